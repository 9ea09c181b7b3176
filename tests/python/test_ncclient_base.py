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
