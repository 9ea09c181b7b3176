"""ncclient 0.7 against the real agent over SSH: the base operations (SPEC §2, §3)."""

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from conftest import connect

BASE = "urn:ietf:params:netconf:base:1.0"
NCM = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


def test_hello_get_getconfig_lock_close(agent):
    m = connect(agent.port)
    caps = list(m.server_capabilities)
    assert "urn:ietf:params:netconf:base:1.0" in caps
    assert "urn:ietf:params:netconf:base:1.1" in caps
    assert int(m.session_id) > 0

    data = m.get().data_ele
    sessions = data.findall(f".//{{{NCM}}}session")
    assert any(s.findtext(f"{{{NCM}}}username") == "admin" for s in sessions)

    reply = m.get(filter=("subtree", f'<netconf-state xmlns="{NCM}"><statistics/></netconf-state>'))
    assert reply.data_ele.find(f".//{{{NCM}}}in-sessions") is not None
    assert reply.data_ele.find(f".//{{{NCM}}}sessions") is None

    assert m.get_config(source="running").ok
    assert m.lock(target="running").ok
    other = connect(agent.port)
    with pytest.raises(RPCError) as e:
        other.lock(target="running")
    assert e.value.tag == "lock-denied"
    assert e.value.info is not None and m.session_id in e.value.info
    assert m.unlock(target="running").ok
    assert other.lock(target="running").ok
    other.close_session()
    m.close_session()
    assert not m.connected


def test_unknown_operation_is_rpc_error(agent):
    m = connect(agent.port)
    with pytest.raises(RPCError) as e:
        m.dispatch(etree.fromstring('<reboot-everything xmlns="urn:example:nope"/>'))
    assert e.value.tag == "operation-not-supported"
    assert e.value.type == "protocol"
    m.close_session()


def test_wrong_password_refused(agent):
    from ncclient import manager
    from ncclient.transport.errors import AuthenticationError
    with pytest.raises(AuthenticationError):
        manager.connect(host="127.0.0.1", port=agent.port, username="admin", password="nope",
                        hostkey_verify=False, look_for_keys=False, allow_agent=False,
                        device_params={"name": "default"}, timeout=20)


def test_xpath_filter_and_with_defaults(agent):
    """RFC 6241 §8.9 and RFC 6243 as ncclient uses them (issue #10)."""
    m = connect(agent.port)
    assert ":xpath" in m.server_capabilities
    assert ":with-defaults" in m.server_capabilities
    reply = m.get(filter=("xpath", ({"n": NCM}, "/n:netconf-state/n:sessions/n:session/n:username")))
    sessions = reply.data_ele.findall(f".//{{{NCM}}}session")
    assert sessions, etree.tostring(reply.data_ele)
    for s in sessions:
        # The list key comes with the selected node (RFC 7950 §7.8.5).
        assert s.findtext(f"{{{NCM}}}session-id")
        assert s.findtext(f"{{{NCM}}}username") == "admin"
        assert s.find(f"{{{NCM}}}login-time") is None
    with pytest.raises(RPCError) as e:
        m.get(filter=("xpath", ({"n": NCM}, "/n:netconf-state[")))
    assert e.value.tag == "invalid-value"
    lib = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
    reply = m.get(filter=("subtree", f'<yang-library xmlns="{lib}"><content-id/></yang-library>'),
                  with_defaults="report-all")
    cid = reply.data_ele.findtext(f".//{{{lib}}}content-id")
    assert cid and any(f"content-id={cid}" in c for c in m.server_capabilities)
    assert m.get_config(source="running", with_defaults="trim").ok
    m.close_session()
