"""Ansible configures the switch's BGP over NETCONF (issue 10): a playbook
adds a peer group, a neighbor (a real GoBGP on loopback) and a route target
with ansible.netcommon.netconf_config (candidate, lock, commit), checks that a
second run changes nothing, reads them back with netconf_get and subtree
filters, and has an invalid edit (unknown peer group) fail without reaching
running; GoBGP then shows the session and the route target. The playbook's own
assert tasks fail it when the data is wrong."""

import os
import subprocess
import sys
from pathlib import Path

import bgplab
from conftest import USERS, Agent, connect

VENV_BIN = Path(sys.executable).parent
NB = "urn:ncagent:yang:ncagent-bgp"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
AGENT = bgplab.AGENT_BGP_ADDR
PEER = "127.0.0.61"
BAD = "127.0.0.62"


def playbook(gobgp_port):
    return f"""
- name: Add a BGP peer and a route target through candidate, read them back
  hosts: switch
  gather_facts: false
  vars:
    bgp_config: |
      <config xmlns="{NC}">
        <bgp xmlns="{NB}">
          <global><route-target>65000:300</route-target></global>
          <peer-groups><peer-group><name>fabric</name></peer-group></peer-groups>
          <neighbors>
            <neighbor>
              <address>{PEER}</address>
              <remote-as>65001</remote-as>
              <peer-group>fabric</peer-group>
              <transport><remote-port>{gobgp_port}</remote-port></transport>
              <afi-safis><afi-safi><name>rtc</name></afi-safi></afi-safis>
            </neighbor>
          </neighbors>
        </bgp>
      </config>
  tasks:
    - name: configure group, neighbor and route target (candidate, commit)
      ansible.netcommon.netconf_config:
        target: candidate
        lock: always
        commit: true
        content: "{{{{ bgp_config }}}}"
      register: configured

    - name: the first run changed the configuration
      ansible.builtin.assert:
        that:
          - configured is changed

    - name: the same configuration again
      ansible.netcommon.netconf_config:
        target: candidate
        content: "{{{{ bgp_config }}}}"
      register: again

    - name: the second run changed nothing
      ansible.builtin.assert:
        that:
          - again is not changed

    - name: read the neighbor from running
      ansible.netcommon.netconf_get:
        source: running
        filter: <bgp xmlns="{NB}"><neighbors><neighbor><address>{PEER}</address></neighbor></neighbors></bgp>
        display: xml
      register: neighbor

    - name: running has the neighbor in its group
      ansible.builtin.assert:
        that:
          - "'<address>{PEER}</address>' in neighbor.output"
          - "'<remote-as>65001</remote-as>' in neighbor.output"
          - "'<peer-group>fabric</peer-group>' in neighbor.output"

    - name: read the route targets from running
      ansible.netcommon.netconf_get:
        source: running
        filter: <bgp xmlns="{NB}"><global><route-target/></global></bgp>
        display: xml
      register: rts

    - name: running has both route targets and nothing else of the tree
      ansible.builtin.assert:
        that:
          - "'<route-target>65000:300</route-target>' in rts.output"
          - "'<route-target>65000:100</route-target>' in rts.output"
          - "'<neighbors' not in rts.output"

- name: An invalid edit fails and leaves running as it was
  hosts: switch
  gather_facts: false
  tasks:
    - name: a neighbor in a group that does not exist
      ansible.netcommon.netconf_config:
        target: candidate
        content: |
          <config xmlns="{NC}">
            <bgp xmlns="{NB}">
              <neighbors>
                <neighbor>
                  <address>{BAD}</address>
                  <remote-as>65009</remote-as>
                  <peer-group>no-such-group</peer-group>
                </neighbor>
              </neighbors>
            </bgp>
          </config>
      register: bad
      ignore_errors: true

    - name: the edit failed
      ansible.builtin.assert:
        that:
          - bad is failed

    - name: read the neighbors from running
      ansible.netcommon.netconf_get:
        source: running
        filter: <bgp xmlns="{NB}"><neighbors/></bgp>
        display: xml
      register: after

    - name: running has the good neighbor only
      ansible.builtin.assert:
        that:
          - "'<address>{PEER}</address>' in after.output"
          - "'{BAD}' not in after.output"
"""


def test_playbook_configures_bgp_peer_and_route_target(tmp_path):
    d = tmp_path
    port = bgplab.free_port()
    # Passive: refused before the playbook configures it, GoBGP would hold
    # itself idle for a while (see test_datastore_e2e.ConfigLab.new_gobgp).
    g = bgplab.GoBgp(d, "peer", PEER, 65001,
                     [{"address": AGENT, "peer_as": bgplab.LOCAL_AS, "remote_port": port}],
                     passive=True)
    (d / "agent").mkdir()
    agent = Agent(d / "agent", bgplab.agent_global_toml(port))
    try:
        (d / "inventory.ini").write_text(
            f"[switch]\nce1 ansible_host=127.0.0.1 ansible_port={agent.port}\n\n[switch:vars]\n"
            f"ansible_connection=ansible.netcommon.netconf\nansible_network_os=default\n"
            f"ansible_user=operator\nansible_password={USERS['operator'][0]}\n"
            f"ansible_python_interpreter={sys.executable}\n")
        (d / "playbook.yml").write_text(playbook(g.bgp_port))
        env = {**os.environ, "LC_ALL": "C.UTF-8", "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(d / "tmp"),
               "ANSIBLE_PERSISTENT_CONTROL_PATH_DIR": str(d / "pc"),
               "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
        out = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(d / "inventory.ini"),
                              str(d / "playbook.yml")], capture_output=True, text=True, env=env,
                             timeout=300, cwd=d)
        assert out.returncode == 0, out.stdout + out.stderr + agent.logs()[-3000:]
        assert "failed=0" in out.stdout and "ignored=1" in out.stdout, out.stdout

        # The GoBGP peer followed: Established, and our new route target is
        # among the RTC routes it received.
        assert bgplab.wait_for(lambda: g.established(AGENT), 10), g.log()[-2000:]
        assert bgplab.wait_for(lambda: g.rtc_paths("65000:65000:300"), 10), g.rtc_rib()
        m = connect(agent.port, "monitor")
        try:
            data = m.get_config(source="running").data_ele
            addrs = {n.text for n in data.iter(f"{{{NB}}}address")}
            assert PEER in addrs and BAD not in addrs, addrs
        finally:
            m.close_session()
    finally:
        agent.stop()
        g.stop()
