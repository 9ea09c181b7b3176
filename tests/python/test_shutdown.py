"""SIGTERM with sessions open (SPEC §8): NETCONF clients see the session
close, the BGP peer receives CEASE, the agent exits 0."""

import signal

import bgplab
from conftest import connect


def test_sigterm_closes_sessions_and_sends_cease(small_lab):
    agent, ebgp, ibgp = small_lab.agent, small_lab.ebgp, small_lab.ibgp
    m1, m2 = connect(agent.port), connect(agent.port, "monitor")
    assert m1.connected and m2.connected

    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=20) == 0, agent.logs()
    assert bgplab.wait_for(lambda: not m1.connected and not m2.connected, 10)
    # RFC 4486 §4: CEASE / Administrative Shutdown.
    assert bgplab.wait_for(lambda: "code 6(cease) subcode 2" in ebgp.log(), 10), ebgp.log()
    assert bgplab.wait_for(lambda: "code 6(cease) subcode 2" in ibgp.log(), 10), ibgp.log()
    assert "SIGTERM" in agent.logs()
