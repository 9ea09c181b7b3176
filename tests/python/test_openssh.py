"""OpenSSH's ssh client (SPEC §2): `ssh -s netconf`, base:1.0 only, EOM framing."""

import subprocess

from conftest import USERS

HELLO = ('<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
         '<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>')


def ssh(port, stdin, user="admin"):
    cmd = ["sshpass", "-p", USERS[user][0], "ssh", "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
           "-o", "PreferredAuthentications=password", "-p", str(port),
           f"{user}@127.0.0.1", "-s", "netconf"]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def test_openssh_subsystem_base_1_0(agent):
    rpcs = ('<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="a1"><get-config>'
            '<source><running/></source></get-config></rpc>]]>]]>'
            '<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="a2"><close-session/>'
            '</rpc>]]>]]>')
    out = ssh(agent.port, HELLO + rpcs)
    messages = [m for m in out.stdout.split("]]>]]>") if m.strip()]
    assert len(messages) == 3, out
    assert "<session-id>" in messages[0]
    assert 'message-id="a1"' in messages[1] and "<data" in messages[1]
    assert 'message-id="a2"' in messages[2] and "<ok/>" in messages[2]


def test_openssh_wrong_password(agent):
    cmd = ["sshpass", "-p", "wrong", "ssh", "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
           "-o", "NumberOfPasswordPrompts=1", "-p", str(agent.port), "admin@127.0.0.1",
           "-s", "netconf"]
    out = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "<hello" not in out.stdout
