"""The YANG contract as clients see it (SPEC §4): module capability with the
device's features in the hello, get-schema text that pyang accepts, and the
feature-gated IPv4 selector per device model."""

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from conftest import connect

NS = "urn:ncagent:yang:ncagent-bgp-vpn-target"
PYANG = str(Path(sys.executable).parent / "pyang")


def module_cap(m):
    caps = [c for c in m.server_capabilities if c.startswith(NS)]
    assert len(caps) == 1, list(m.server_capabilities)
    return caps[0]


@pytest.mark.parametrize("model,mode,has_feature", [
    ("CE6885-LL", "low-latency", False),
    ("CE6885-LL", "standard", True),
    ("CE8855", None, True),
])
def test_hello_features_per_model(start_agent, model, mode, has_feature):
    a = start_agent(model=model, mode=mode)
    m = connect(a.port)
    cap = module_cap(m)
    assert "module=ncagent-bgp-vpn-target" in cap and "revision=2026-11-26" in cap
    assert ("features=ipv4-peer-selector" in cap) == has_feature, cap
    # ncclient parses the capability the same way.
    parsed = m.server_capabilities[cap]
    assert ("ipv4-peer-selector" in parsed.parameters.get("features", "")) == has_feature

    rpc = etree.fromstring(f'<refresh-bgp-vpn-target xmlns="{NS}"><ipv4-address>192.0.2.1'
                           f'</ipv4-address><direction>import</direction></refresh-bgp-vpn-target>')
    with pytest.raises(RPCError) as e:
        m.dispatch(rpc)
    if has_feature:
        # Accepted by the schema; the engine has no such peer.
        assert e.value.tag == "invalid-value" and e.value.app_tag == "peer-not-found"
    else:
        assert e.value.tag == "unknown-element"
        assert "ipv4-address" in etree.tostring(e.value.xml).decode()
        assert "CE6885-LL" in e.value.message and "low-latency" in e.value.message
    m.close_session()


def test_get_schema_text_parses_with_pyang(agent, tmp_path):
    m = connect(agent.port)
    reply = m.get_schema("ncagent-bgp-vpn-target")
    text = reply.data
    assert text.lstrip().startswith("module ncagent-bgp-vpn-target")
    f = tmp_path / "ncagent-bgp-vpn-target.yang"
    f.write_text(text)
    out = subprocess.run([PYANG, "--strict", str(f)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
    with pytest.raises(RPCError) as e:
        m.get_schema("no-such-module")
    assert e.value.tag == "invalid-value"
    m.close_session()


def test_yang_library_and_schemas_in_get(agent):
    m = connect(agent.port)
    data = m.get().data_ele
    lib = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
    ncm = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
    names = [e.text for e in data.iter(f"{{{lib}}}name")]
    assert "ncagent-bgp-vpn-target" in names
    ids = [e.text for e in data.iter(f"{{{ncm}}}identifier")]
    assert "ncagent-bgp-vpn-target" in ids
    m.close_session()


def test_unknown_model_is_a_startup_error(tmp_path):
    from conftest import BIN
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[server]\nlisten = "127.0.0.1:0"\n[device]\nmodel = "CE9999"\n')
    out = subprocess.run([BIN, "--config", str(cfg)], capture_output=True, text=True, timeout=60,
                         env={"NCAGENT_ADMIN_PASSWORD": "x", "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "CE9999" in out.stderr and "CE8855" in out.stderr and "CE6885-LL" in out.stderr
