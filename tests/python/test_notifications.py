"""Notifications (RFC 5277, RFC 6470, ncagent-bgp-events) received by real
clients: ncclient's create_subscription against an agent peered with real
GoBGP speakers, and netconf-console2's --create-subscription."""

import datetime
import subprocess
import time
from pathlib import Path

from lxml import etree

import bgplab
from conftest import USERS, connect

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
EV = "urn:ncagent:yang:ncagent-bgp-events"
BVT = "urn:ncagent:yang:ncagent-bgp-vpn-target"


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
