"""SIGTERM with sessions open (SPEC §8): NETCONF clients see the session
close, the BGP peer receives CEASE, the agent exits 0."""

import signal

import bgplab
from conftest import Agent, connect


def test_sigterm_closes_sessions_and_sends_cease(tmp_path):
    ap = bgplab.free_port()
    ep, ip = bgplab.free_port("127.0.0.2"), bgplab.free_port("127.0.0.3")
    ebgp, ibgp = bgplab.start_gobgps(tmp_path, ap, ep, ip)
    try:
        (tmp_path / "agent").mkdir()
        agent = Agent(tmp_path / "agent", bgplab.agent_bgp_toml(ap, ep, ip))
        assert bgplab.wait_for(lambda: ebgp.established("127.0.0.1"), 40), agent.logs()
        m1, m2 = connect(agent.port), connect(agent.port, "monitor")
        assert m1.connected and m2.connected

        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=20) == 0, agent.logs()
        assert bgplab.wait_for(lambda: not m1.connected and not m2.connected, 10)
        # RFC 4486 §4: CEASE / Administrative Shutdown.
        assert bgplab.wait_for(lambda: "code 6(cease) subcode 2" in ebgp.log(), 10), ebgp.log()
        assert bgplab.wait_for(lambda: "code 6(cease) subcode 2" in ibgp.log(), 10), ibgp.log()
        assert "SIGTERM" in agent.logs()
        agent.stop()
    finally:
        ebgp.stop()
        ibgp.stop()
