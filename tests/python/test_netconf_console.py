"""netconf-console2 (SPEC §2): hello, get, and a raw rpc."""

import subprocess
from pathlib import Path

from conftest import USERS

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def nc(port, *args, stdin=None):
    cmd = [str(VENV_BIN / "netconf-console2"), "--host", "127.0.0.1", "--port", str(port),
           "-u", "admin", "-p", USERS["admin"][0], *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def test_hello_and_get(agent):
    out = nc(agent.port, "--hello")
    assert out.returncode == 0, out.stderr
    assert "urn:ietf:params:netconf:base:1.1" in out.stdout
    out = nc(agent.port, "--get")
    assert out.returncode == 0, out.stderr
    assert "netconf-state" in out.stdout and "<username>admin</username>" in out.stdout


def test_raw_rpc_from_stdin(agent, tmp_path):
    rpc = tmp_path / "rpc.xml"
    rpc.write_text('<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1">'
                   '<get-config><source><running/></source></get-config></rpc>')
    out = nc(agent.port, str(rpc))
    assert out.returncode == 0, out.stderr
    assert "<data" in out.stdout
