"""Access control (RFC 8341, docs/nacm.md) with ncclient: rules edited over
NETCONF by a level-3 user take effect for others; read rules hide data."""

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

import bgplab
from conftest import connect

NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
BVT = "urn:ncagent:yang:ncagent-bgp-vpn-target"
BGP = "urn:ncagent:yang:ncagent-bgp"


def refresh(m):
    return m.dispatch(etree.fromstring(
        f'<refresh-bgp-vpn-target xmlns="{BVT}"><all/><direction>import</direction>'
        f'</refresh-bgp-vpn-target>'))


def commit_rules(port, body):
    """A level-3 user edits /nacm in candidate and commits."""
    with connect(port, "admin") as a:
        assert a.edit_config(target="candidate",
                             config=f'<config><nacm xmlns="{NACM}">{body}</nacm></config>').ok
        assert a.commit().ok


def test_rule_permits_the_refresh_rpc_for_monitoring(small_lab):
    port = small_lab.agent.port
    ebgp = small_lab.ebgp
    m = connect(port, "monitor")
    # Shipped rules: the RPC needs level 2 (it carries nacm:default-deny-all).
    with pytest.raises(RPCError) as e:
        refresh(m)
    assert e.value.tag == "access-denied"
    assert e.value.type == "protocol"
    assert "refresh-bgp-vpn-target" in e.value.message
    before = ebgp.received(bgplab.AGENT_BGP_ADDR, "refresh")
    commit_rules(port, """
      <rule-list><name>refresh-for-monitoring</name><group>monitoring</group>
        <rule><name>permit-refresh</name><module-name>ncagent-bgp-vpn-target</module-name>
          <rpc-name>refresh-bgp-vpn-target</rpc-name><access-operations>exec</access-operations>
          <action>permit</action></rule></rule-list>""")
    # The same session, next RPC.
    assert refresh(m).ok
    assert bgplab.wait_for(lambda: ebgp.received(bgplab.AGENT_BGP_ADDR, "refresh") > before, 10)
    # Still no edits for monitoring.
    with pytest.raises(RPCError) as e:
        m.lock(target="running")
    assert e.value.tag == "access-denied"
    m.close_session()


def test_a_read_denied_subtree_is_absent(small_lab):
    port = small_lab.agent.port
    with connect(port, "monitor") as m:
        assert m.get().data_ele.find(f"{{{BGP}}}bgp") is not None
    commit_rules(port, f"""
      <groups><group><name>auditors</name><user-name>monitor</user-name></group></groups>
      <rule-list><name>hide-neighbors</name><group>auditors</group>
        <rule><name>no-neighbors</name><module-name>ncagent-bgp</module-name>
          <path xmlns:b="{BGP}">/b:bgp/b:neighbors</path>
          <access-operations>read</access-operations><action>deny</action></rule></rule-list>""")
    with connect(port, "monitor") as m:
        data = m.get().data_ele
        bgp = data.find(f"{{{BGP}}}bgp")
        assert bgp is not None and bgp.find(f"{{{BGP}}}global") is not None
        assert bgp.find(f"{{{BGP}}}neighbors") is None
        cfg = m.get_config(source="running").data_ele
        assert cfg.find(f"{{{BGP}}}bgp/{{{BGP}}}neighbors") is None
        # The rules themselves are level 3's.
        assert data.find(f"{{{NACM}}}nacm") is None
    with connect(port, "operator") as o:
        assert o.get().data_ele.find(f"{{{BGP}}}bgp/{{{BGP}}}neighbors") is not None
    with connect(port, "admin") as a:
        data = a.get().data_ele
        assert data.find(f"{{{BGP}}}bgp/{{{BGP}}}neighbors") is not None
        nacm = data.find(f"{{{NACM}}}nacm")
        assert int(nacm.findtext(f"{{{NACM}}}denied-operations")) >= 0
