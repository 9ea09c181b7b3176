"""Notifications (RFC 5277, RFC 6470, ncagent-bgp-events) received by real
clients: ncclient's create_subscription against an agent peered with real
GoBGP speakers, and netconf-console2's --create-subscription."""

import datetime
import subprocess
import time
from pathlib import Path

from lxml import etree
from ncclient.operations import RPCError

import bgplab
from conftest import USERS, connect

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
EV = "urn:ncagent:yang:ncagent-bgp-events"
BVT = "urn:ncagent:yang:ncagent-bgp-vpn-target"
NB = "urn:ncagent:yang:ncagent-bgp"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def take(m, pred, timeout=20, limit=200):
    """Notifications until one satisfies pred(element); returns (it, seen)."""
    seen = []
    end = time.time() + timeout
    for _ in range(limit):
        left = end - time.time()
        assert left > 0, f"no matching notification within {timeout} s: {seen}"
        n = m.take_notification(block=True, timeout=left)
        assert n is not None, f"no matching notification within {timeout} s: {seen}"
        el = n.notification_ele
        seen.append(n.notification_xml)
        if pred(el):
            return el, seen
    raise AssertionError(f"no matching notification in {limit}: {seen}")


def content(el):
    """The event element (the sibling of eventTime)."""
    return [c for c in el if etree.QName(c).localname != "eventTime"][0]


def is_event(ns, name, **leaves):
    def pred(el):
        c = content(el)
        if etree.QName(c).namespace != ns or etree.QName(c).localname != name:
            return False
        return all(c.findtext(f"{{{ns}}}{k.replace('_', '-')}") == v for k, v in leaves.items())
    return pred


def test_ncclient_receives_session_soft_reset_and_peer_events(small_lab):
    port = small_lab.agent.port
    m = connect(port, "operator")
    assert ":notification" in " ".join(m.server_capabilities)
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    m.create_subscription()

    # Another client logs in: netconf-session-start with its username.
    other = connect(port, "monitor")
    take(m, is_event(NCN, "netconf-session-start", username="monitor"))

    # A soft reset on the subscribed session: the reply comes (interleave),
    # and one soft-reset event lists each peer's result.
    rpc = etree.fromstring(f'<refresh-bgp-vpn-target xmlns="{BVT}"><all/>'
                           '<direction>import</direction></refresh-bgp-vpn-target>')
    assert m.dispatch(rpc).ok
    ev, _ = take(m, is_event(EV, "soft-reset"))
    c = content(ev)
    assert c.findtext(f"{{{EV}}}direction") == "import"
    assert c.findtext(f"{{{EV}}}outcome") == "completed"
    results = {p.findtext(f"{{{EV}}}address"): p.findtext(f"{{{EV}}}result")
               for p in c.findall(f"{{{EV}}}peer")}
    assert results == {"127.0.0.2": "done", "127.0.0.3": "done"}, etree.tostring(c)

    # RPCs are answered while subscribed.
    assert "netconf-state" in m.get().data_xml

    # The eBGP GoBGP is killed: a peer-state-change leaving Established,
    # with the NOTIFICATION or the reason.
    small_lab.ebgp.stop()
    ev, _ = take(m, is_event(EV, "peer-state-change", address="127.0.0.2"), timeout=60)
    c = content(ev)
    assert c.findtext(f"{{{EV}}}previous-state") == "established", etree.tostring(c)
    assert c.findtext(f"{{{EV}}}state") != "established"
    assert (c.find(f"{{{EV}}}notification") is not None
            or c.findtext(f"{{{EV}}}reason")), etree.tostring(c)

    # The other client leaves: netconf-session-end, closed.
    other.close_session()
    take(m, is_event(NCN, "netconf-session-end", username="monitor", termination_reason="closed"))
    m.close_session()

    # A new subscriber replays everything since `before`, then replayComplete.
    r = connect(port, "admin")
    r.create_subscription(start_time=before.isoformat().replace("+00:00", "Z"))
    _, seen = take(r, lambda el: etree.QName(content(el)).localname == "replayComplete")
    text = "\n".join(seen)
    for what in ("netconf-session-start", "soft-reset", "peer-state-change", "netconf-session-end"):
        assert what in text, (what, text)
    r.close_session()


def test_netconf_console2_subscribes(agent):
    cmd = [str(VENV_BIN / "netconf-console2"), "--host", "127.0.0.1", "--port", str(agent.port),
           "-u", "admin", "-p", USERS["admin"][0], "--create-subscription", "NETCONF",
           "--sleep", "8"]
    watcher = connect(agent.port, "monitor")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Once its session is up (it subscribes right after the hello), another
    # client logs in and out.
    assert bgplab.wait_for(lambda: "<username>admin</username>" in watcher.get().data_xml, 15)
    time.sleep(1.5)
    other = connect(agent.port, "monitor")
    other.close_session()
    watcher.close_session()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "netconf-session-start" in out and "<username>monitor</username>" in out, out
    assert "netconf-session-end" in out, out


def test_ncclient_xpath_filter_receives_only_matching_events(agent):
    """RFC 5277 §3.6 with an XPath filter, as ncclient sends it: <filter
    type="xpath" select="..."> with the prefixes declared on <filter>."""
    m = connect(agent.port, "operator")
    assert any(":xpath" in c for c in m.server_capabilities)
    m.create_subscription(filter=("xpath", (
        {"ncn": NCN}, "/ncn:netconf-session-start[ncn:username='monitor']")))
    # Sessions of admin and monitor start and end; only monitor's starts
    # are selected.
    for _ in range(2):
        connect(agent.port, "admin").close_session()
        connect(agent.port, "monitor").close_session()
    _, seen = take(m, is_event(NCN, "netconf-session-start", username="monitor"))
    assert len(seen) == 1, seen
    _, seen = take(m, is_event(NCN, "netconf-session-start", username="monitor"))
    assert len(seen) == 1, seen
    # A select that does not parse is refused as for <get> (docs/errors.md).
    other = connect(agent.port, "monitor")
    bad = etree.fromstring(
        f'<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0">'
        f'<filter type="xpath" xmlns:ncn="{NCN}" select="/ncn:netconf-session-start["/>'
        f'</create-subscription>')
    try:
        other.dispatch(bad)
        raise AssertionError("a bad select was accepted")
    except RPCError as e:
        assert e.tag == "invalid-value", e.xml
    other.close_session()
    m.close_session()


def test_ncclient_receives_config_change_after_commit(agent):
    """RFC 6470 netconf-config-change: a commit of the candidate by another
    session is announced, changed-by that session, with each changed node
    in the edit list."""
    m = connect(agent.port, "monitor")
    m.create_subscription()
    e = connect(agent.port, "operator")
    config = (f'<config xmlns="{NC}"><bgp xmlns="{NB}"><global><as>65000</as>'
              '<router-id>10.255.0.1</router-id><route-target>65000:321</route-target></global>'
              '<neighbors><neighbor><address>127.0.0.77</address><remote-as>65077</remote-as>'
              '</neighbor></neighbors></bgp></config>')
    assert e.edit_config(target="candidate", config=config).ok
    assert e.commit().ok
    ev, _ = take(m, is_event(NCN, "netconf-config-change"))
    c = content(ev)
    assert c.findtext(f"{{{NCN}}}changed-by/{{{NCN}}}username") == "operator", etree.tostring(c)
    assert c.findtext(f"{{{NCN}}}datastore") == "running"
    targets = [x.findtext(f"{{{NCN}}}target") for x in c.findall(f"{{{NCN}}}edit")]
    assert any("neighbor[" in t and "127.0.0.77" in t for t in targets), targets
    assert any("route-target" in t and "65000:321" in t for t in targets), targets
    e.close_session()
    m.close_session()
