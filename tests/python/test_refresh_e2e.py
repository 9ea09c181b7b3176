"""refresh-bgp-vpn-target end to end (SPEC §5, §6, §7): ncclient -> agent over
SSH -> embedded BGP speaker -> real GoBGP peers on loopback, whose counters
show the effect."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

import bgplab
from conftest import Agent, connect

NS = "urn:ncagent:yang:ncagent-bgp-vpn-target"
PATH_PREFIX = "/bvt:refresh-bgp-vpn-target/bvt:"
AGENT = "127.0.0.1"   # the agent's BGP address, as GoBGP sees it
V6 = {"name": "v6", "address": "::1", "asn": 65003, "group": "v6-peers", "rt": "65003:3"}
NORR = {"name": "norr", "address": "127.0.0.5", "asn": 65002, "group": "norr-peers", "rt": "65002:2"}


class Lab:
    """Agent (CE8855) peered with four GoBGPs: eBGP, iBGP, eBGP over IPv6,
    and an eBGP peer with which route refresh is not negotiated; plus a
    configured peer that never comes up and one without the VPN-Target family."""

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.agent_port = bgplab.free_port()
        ports = {n: bgplab.free_port(a) for n, a in
                 (("ebgp", "127.0.0.2"), ("ibgp", "127.0.0.3"), ("norr", "127.0.0.5"))}
        ports["v6"] = self._free_v6_port()
        self.ebgp, self.ibgp = bgplab.start_gobgps(workdir, self.agent_port, ports["ebgp"], ports["ibgp"])
        self.norr = bgplab.GoBgp(workdir, "norr", NORR["address"], NORR["asn"],
                                 [{"address": AGENT, "peer_as": 65000, "remote_port": self.agent_port}],
                                 bgp_port=ports["norr"])
        self.norr.add_route_target(NORR["rt"])
        # Over IPv6 the agent connects (its listener is on 127.0.0.1): GoBGP
        # reaches it back on the same session.
        self.v6 = bgplab.GoBgp(workdir, "v6", "::1", V6["asn"],
                               [{"address": "::1", "peer_as": 65000, "remote_port": 1}],
                               bgp_port=ports["v6"], router_id="10.255.0.6", passive=True)
        self.v6.add_route_target(V6["rt"])
        extra = f'''
[[bgp.groups]]
name = "{V6["group"]}"
[[bgp.groups]]
name = "{NORR["group"]}"
[[bgp.groups]]
name = "down-peers"

[[bgp.peers]]
address = "::1"
remote_as = {V6["asn"]}
port = {ports["v6"]}
group = "{V6["group"]}"

[[bgp.peers]]
address = "{NORR["address"]}"
remote_as = {NORR["asn"]}
port = {ports["norr"]}
group = "{NORR["group"]}"
route_refresh = false
enhanced_route_refresh = false

[[bgp.peers]]
address = "127.0.0.4"
remote_as = 65004
port = 9
passive = true
group = "down-peers"

[[bgp.peers]]
address = "127.0.0.6"
remote_as = 65005
port = 9
passive = true
vpn_target = false
'''
        (self.dir / "agent").mkdir()
        self.agent = Agent(self.dir / "agent", bgplab.agent_bgp_toml(
            self.agent_port, ports["ebgp"], ports["ibgp"], extra_peers=extra))
        self.speakers = {"ebgp": (self.ebgp, AGENT), "ibgp": (self.ibgp, AGENT),
                         "v6": (self.v6, "::1"), "norr": (self.norr, AGENT)}
        up = bgplab.wait_for(lambda: all(g.established(a) for g, a in self.speakers.values()), 40)
        assert up, self.diagnostics()

    @staticmethod
    def _free_v6_port():
        import socket
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]

    def diagnostics(self):
        return "\n".join([self.agent.logs()[-4000:]] + [g.log()[-2000:] for g, _ in self.speakers.values()])

    def counts(self, kind):
        return {n: g.received(a, kind) for n, (g, a) in self.speakers.items()}

    def stop(self):
        self.agent.stop()
        for g, _ in self.speakers.values():
            g.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("lab"))
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def nc(lab):
    m = connect(lab.agent.port, "operator")
    yield m
    m.close_session()


def refresh(m, selector, direction):
    return m.dispatch(etree.fromstring(
        f'<refresh-bgp-vpn-target xmlns="{NS}">{selector}<direction>{direction}</direction>'
        f'</refresh-bgp-vpn-target>'))


SELECTORS = [
    # (selector XML, speakers whose session is selected and soft-reset)
    ("<all/>", {"ebgp", "ibgp", "v6", "norr"}),
    ("<ipv4-address>127.0.0.2</ipv4-address>", {"ebgp"}),
    ("<ipv6-address>::1</ipv6-address>", {"v6"}),
    ("<group>ebgp-peers</group>", {"ebgp"}),
    ("<external/>", {"ebgp", "v6", "norr"}),
    ("<internal/>", {"ibgp"}),
]


@pytest.mark.parametrize("selector,selected", SELECTORS, ids=[s[0] for s in SELECTORS])
def test_import_sends_route_refresh_to_selected_peers_only(lab, nc, selector, selected):
    before = lab.counts("refresh")
    assert refresh(nc, selector, "import").ok
    # Without route refresh negotiated, the peer is skipped, not failed (SPEC §6).
    expected = {n: before[n] + (1 if n in selected and n != "norr" else 0) for n in before}
    after = bgplab.wait_for(lambda: lab.counts("refresh") == expected and lab.counts("refresh"), 10)
    assert lab.counts("refresh") == expected, (before, after)


@pytest.mark.parametrize("selector,selected", SELECTORS, ids=[s[0] for s in SELECTORS])
def test_export_readvertises_without_reset(lab, nc, selector, selected):
    before = lab.counts("update")
    uptime = {n: g.neighbor(a)["timers"]["state"].get("uptime") for n, (g, a) in lab.speakers.items()}
    assert refresh(nc, selector, "export").ok
    moved = bgplab.wait_for(
        lambda: all(lab.counts("update")[n] > before[n] for n in selected), 10)
    after = lab.counts("update")
    assert moved, (before, after)
    for n in set(before) - selected:
        assert after[n] == before[n], (n, before, after)
    # No session was torn down: still Established, same establishment time.
    for n, (g, a) in lab.speakers.items():
        assert g.established(a), n
        assert g.neighbor(a)["timers"]["state"].get("uptime") == uptime[n], n


def rpc_error(m, selector, direction="import"):
    with pytest.raises(RPCError) as e:
        refresh(m, selector, direction)
    return e.value


ERRORS = [
    # (selector XML, direction, tag, app_tag, path leaf or None)  — SPEC §6 rows
    ("<ipv4-address>127.0.0.99</ipv4-address>", "import", "invalid-value", "peer-not-found", "ipv4-address"),
    ("<ipv6-address>2001:db8::99</ipv6-address>", "export", "invalid-value", "peer-not-found", "ipv6-address"),
    ("<group>no-such-group</group>", "import", "invalid-value", "group-not-found", "group"),
    ("<ipv4-address>127.0.0.4</ipv4-address>", "import", "operation-failed", "peer-not-established", "ipv4-address"),
    ("<ipv4-address>127.0.0.5</ipv4-address>", "import", "operation-not-supported", "route-refresh-not-negotiated", "ipv4-address"),
    ("<ipv4-address>127.0.0.6</ipv4-address>", "import", "operation-failed", "family-not-enabled", "ipv4-address"),
    ("<all/><external/>", "import", "bad-element", None, None),
    ("", "import", "missing-element", "missing-choice", None),
    ("<ipv4-address>300.1.1.1</ipv4-address>", "import", "invalid-value", None, "ipv4-address"),
    ("<ipv6-address>2001:db8::zz</ipv6-address>", "import", "invalid-value", None, "ipv6-address"),
    # An IPv4-mapped address never reaches the IPv4 peer 127.0.0.2 (docs/decisions.md).
    ("<ipv6-address>::ffff:127.0.0.2</ipv6-address>", "import", "invalid-value", "ipv4-mapped-address", "ipv6-address"),
    ("<group></group>", "import", "invalid-value", None, "group"),
    ("<group>" + "g" * 48 + "</group>", "import", "invalid-value", None, "group"),
    ("<all/>", "sideways", "invalid-value", None, "direction"),
]


@pytest.mark.parametrize("selector,direction,tag,app_tag,leaf", ERRORS, ids=[f"{e[2]}-{e[3] or e[4] or 'x'}-{i}" for i, e in enumerate(ERRORS)])
def test_error_rows_surface_as_rpc_error(nc, selector, direction, tag, app_tag, leaf):
    e = rpc_error(nc, selector, direction)
    assert e.tag == tag, e.xml
    assert e.app_tag == app_tag, etree.tostring(e.xml)
    if leaf:
        assert e.path and e.path.strip() == PATH_PREFIX + leaf, etree.tostring(e.xml)
    assert e.message, "every error carries a message"


def test_missing_direction(nc):
    with pytest.raises(RPCError) as e:
        nc.dispatch(etree.fromstring(f'<refresh-bgp-vpn-target xmlns="{NS}"><all/></refresh-bgp-vpn-target>'))
    assert e.value.tag == "missing-element"
    assert "direction" in etree.tostring(e.value.xml).decode()


def test_levels(lab):
    """SPEC §7: the RPC needs level 2; get needs 1."""
    m = connect(lab.agent.port, "monitor")
    with pytest.raises(RPCError) as e:
        refresh(m, "<all/>", "import")
    assert e.value.tag == "access-denied"
    assert e.value.type == "protocol"
    assert m.get(filter=("subtree", f'<bgp-vpn-target-state xmlns="{NS}"/>')).ok
    m.close_session()
    assert "access denied" in lab.agent.logs()


def test_state_matches_gobgp_counters(lab, nc):
    """<get> shows per-peer ROUTE-REFRESH sent counts equal to GoBGP's Rcvd."""
    assert refresh(nc, "<all/>", "import").ok
    time.sleep(0.5)
    data = nc.get(filter=("subtree", f'<bgp-vpn-target-state xmlns="{NS}"/>')).data_ele
    q = lambda p, leaf: p.findtext(f".//{{{NS}}}{leaf}")
    peers = {q(p, "address"): p for p in data.iter(f"{{{NS}}}peer")}
    for name, (g, a) in lab.speakers.items():
        addr = {"ebgp": "127.0.0.2", "ibgp": "127.0.0.3", "v6": "::1", "norr": "127.0.0.5"}[name]
        p = peers[addr]
        assert q(p, "session-state") == "established", name
        assert int(q(p, "route-refresh-sent")) == g.received(a, "refresh"), name
    norr = peers["127.0.0.5"]
    assert q(norr, "result") == "skipped-no-route-refresh"
    assert q(peers["127.0.0.2"], "result") == "success"
    assert q(peers["127.0.0.4"], "session-state") != "established"


def test_state_is_valid_yang(lab, nc):
    """The state data parses against the module with yanglint."""
    data = nc.get(filter=("subtree", f'<bgp-vpn-target-state xmlns="{NS}"/>')).data_ele
    state = data.find(f"{{{NS}}}bgp-vpn-target-state")
    f = lab.dir / "state.xml"
    f.write_bytes(etree.tostring(state))
    yang = Path(__file__).resolve().parents[2] / "yang"
    out = subprocess.run(["yanglint", "-p", str(yang), "-f", "xml", "-t", "data", "-F",
                          "ncagent-bgp-vpn-target:ipv4-peer-selector",
                          str(yang / "ncagent-bgp-vpn-target@2026-11-26.yang"), str(f)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
