"""Ansible (ansible.netcommon, connection netconf) against the agent peered
with real GoBGPs: a playbook runs the RPC and reads the state; a second play
sends a bad selector and checks the failure text (SPEC §2)."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import USERS

VENV_BIN = Path(sys.executable).parent
NS = "urn:ncagent:yang:ncagent-bgp-vpn-target"

PLAYBOOK = f"""
- name: Soft-reset eBGP VPN-Target sessions and read the state
  hosts: switch
  gather_facts: false
  tasks:
    - name: refresh bgp vpn-target external import
      ansible.netcommon.netconf_rpc:
        rpc: refresh-bgp-vpn-target
        xmlns: {NS}
        content: |
          <external/><direction>import</direction>
        display: xml
      register: refreshed

    - name: the agent answered ok
      ansible.builtin.assert:
        that:
          - "'<ok/>' in refreshed.output"

    - name: read the soft-reset state
      ansible.netcommon.netconf_get:
        filter: <bgp-vpn-target-state xmlns="{NS}"/>
        display: xml
      register: state

    - name: the eBGP peer shows one ROUTE-REFRESH sent
      ansible.builtin.assert:
        that:
          - "'<route-refresh-sent>1</route-refresh-sent>' in state.output"
          - "'<address>127.0.0.2</address>' in state.output"

- name: A selector naming no configured peer fails with the agent's error
  hosts: switch
  gather_facts: false
  tasks:
    - name: refresh an unknown peer
      ansible.netcommon.netconf_rpc:
        rpc: refresh-bgp-vpn-target
        xmlns: {NS}
        content: |
          <ipv4-address>127.0.0.99</ipv4-address><direction>export</direction>
      register: bad
      ignore_errors: true

    - name: the failure carries the agent's rpc-error
      ansible.builtin.assert:
        that:
          - bad is failed
          - "'BGP peer 127.0.0.99 is not configured' in bad.msg"

    - name: refresh with an address that is not an IPv4 address
      ansible.netcommon.netconf_rpc:
        rpc: refresh-bgp-vpn-target
        xmlns: {NS}
        content: |
          <ipv4-address>300.1.1.1</ipv4-address><direction>import</direction>
      register: invalid
      ignore_errors: true

    - name: the schema's error reaches the playbook
      ansible.builtin.assert:
        that:
          - invalid is failed
          - "'invalid ipv4-address' in invalid.msg"
"""


def test_playbook_runs_rpc_and_reads_state(small_lab, tmp_path):
    d, agent, ebgp, ibgp = tmp_path, small_lab.agent, small_lab.ebgp, small_lab.ibgp
    (d / "inventory.ini").write_text(
        f"[switch]\nce1 ansible_host=127.0.0.1 ansible_port={agent.port}\n\n[switch:vars]\n"
        f"ansible_connection=ansible.netcommon.netconf\nansible_network_os=default\n"
        f"ansible_user=operator\nansible_password={USERS['operator'][0]}\n"
        f"ansible_python_interpreter={sys.executable}\n")
    (d / "playbook.yml").write_text(PLAYBOOK)
    before = ebgp.received("127.0.0.1", "refresh"), ibgp.received("127.0.0.1", "refresh")
    env = {**os.environ, "LC_ALL": "C.UTF-8", "ANSIBLE_HOST_KEY_CHECKING": "False",
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(d / "tmp"),
           "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR": str(d / "pc"),
           "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    out = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(d / "inventory.ini"),
                          str(d / "playbook.yml")], capture_output=True, text=True, env=env,
                         timeout=300, cwd=d)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "failed=0" in out.stdout and "ignored=2" in out.stdout, out.stdout
    # The playbook's soft reset reached the eBGP GoBGP only.
    assert ebgp.received("127.0.0.1", "refresh") == before[0] + 1
    assert ibgp.received("127.0.0.1", "refresh") == before[1]
