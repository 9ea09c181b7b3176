"""Fault tests with real GoBGP peers (SPEC §10): a peer that dies around a
soft reset, a NETCONF client that disconnects mid-RPC. The agent answers
every RPC, tears down no other session, and keeps serving."""

import signal
import socket
import time

from lxml import etree
from ncclient.operations.rpc import RPCError

import bgplab
from conftest import connect

NS = "urn:ncagent:yang:ncagent-bgp-vpn-target"


def refresh(m, selector, direction):
    return m.dispatch(etree.fromstring(
        f'<refresh-bgp-vpn-target xmlns="{NS}">{selector}<direction>{direction}</direction>'
        f'</refresh-bgp-vpn-target>'))


def test_peer_dies_around_refresh(small_lab):
    agent, ebgp, ibgp = small_lab.agent, small_lab.ebgp, small_lab.ibgp
    m = connect(agent.port, "operator")
    ibgp_up = ibgp.neighbor("127.0.0.1")["timers"]["state"]["uptime"]
    before = ibgp.received("127.0.0.1", "refresh")

    # The eBGP speaker is killed outright (no NOTIFICATION) as the soft reset goes out.
    ebgp.proc.send_signal(signal.SIGKILL)
    for _ in range(5):
        assert refresh(m, "<all/>", "export").ok      # lenient: never fails for a dead peer
        assert refresh(m, "<all/>", "import").ok

    # A single-peer request for the dead peer fails precisely once it is down.
    def down_error():
        try:
            refresh(m, "<ipv4-address>127.0.0.2</ipv4-address>", "import")
            return None
        except RPCError as e:
            return e
    err = bgplab.wait_for(down_error, 30)
    assert err is not None and err.app_tag == "peer-not-established", err

    # The surviving iBGP session was refreshed each time and never reset.
    assert ibgp.received("127.0.0.1", "refresh") >= before + 5
    assert ibgp.established("127.0.0.1")
    assert ibgp.neighbor("127.0.0.1")["timers"]["state"]["uptime"] == ibgp_up
    # Now known to be down: a multi-peer soft reset skips it, and says so.
    assert refresh(m, "<external/>", "import").ok
    data = m.get(filter=("subtree", f'<bgp-vpn-target-state xmlns="{NS}"/>')).data_ele
    peer = [p for p in data.iter(f"{{{NS}}}peer") if p.findtext(f"{{{NS}}}address") == "127.0.0.2"][0]
    assert peer.findtext(f".//{{{NS}}}result") == "skipped-not-established"
    assert peer.findtext(f"{{{NS}}}session-state") != "established"
    m.close_session()


def test_client_disconnects_mid_rpc(start_agent):
    agent = start_agent()
    witness = connect(agent.port)
    for _ in range(5):
        m = connect(agent.port, "operator")
        # Send the RPC without waiting, then drop the TCP connection under
        # ncclient while the RPC is in flight.
        m.async_mode = True
        refresh(m, "<all/>", "import")
        m._session._transport.sock.shutdown(socket.SHUT_RDWR)
        time.sleep(0.1)
    assert witness.get_config(source="running").ok
    assert refresh(witness, "<all/>", "export").ok
    witness.close_session()
