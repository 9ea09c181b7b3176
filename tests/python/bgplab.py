"""A loopback BGP lab: GoBGP instances (gobgpd) peered with the agent.

Standard library only, so that `scripts/lab` runs it with the system Python
and the tests import it from the venv. Addresses are 127.0.0.x; ports are
chosen free at run time unless given.
"""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

# The agent's side of the lab.
AGENT_BGP_ADDR = "127.0.0.1"
LOCAL_AS = 65000
EBGP = {"name": "ebgp", "address": "127.0.0.2", "asn": 65001, "group": "ebgp-peers", "rt": "65001:1"}
IBGP = {"name": "ibgp", "address": "127.0.0.3", "asn": 65000, "group": "ibgp-peers", "rt": "65000:7"}
# An eBGP GoBGP over IPv6 on ::1 (passive; the agent connects from ::1).
IPV6 = {"name": "v6", "address": "::1", "asn": 65003, "group": "v6-peers", "rt": "65003:3",
        "router_id": "10.255.0.6"}


def free_port(ip="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def terminate(proc, timeout=10):
    """SIGTERM, then SIGKILL if the process has not exited within timeout."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def which(name):
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if not path:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install gobgpd)")
    return path


class GoBgp:
    """One gobgpd process with the rtc family towards its neighbours."""

    def __init__(self, workdir, name, address, asn, neighbors, bgp_port=None, api_port=None,
                 router_id=None, passive=False):
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name, self.address, self.asn = name, address, asn
        self.bgp_port = bgp_port or free_port(address)
        # The API always listens on IPv4 loopback (the gobgp CLI's -u).
        self.api_host = address if ":" not in address else "127.0.0.1"
        self.api_port = api_port or free_port(self.api_host)
        conf = [f'[global.config]\n  as = {asn}\n  router-id = "{router_id or address}"\n'
                f'  port = {self.bgp_port}\n'
                f'  local-address-list = ["{address}"]\n']
        for n in neighbors:
            conf.append(
                f'\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "{n["address"]}"\n'
                f'    peer-as = {n["peer_as"]}\n  [neighbors.transport.config]\n'
                f'    local-address = "{address}"\n    remote-port = {n["remote_port"]}\n'
                f'    passive-mode = {str(passive).lower()}\n'
                f'  [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = 30\n'
                f'    keepalive-interval = 10\n    idle-hold-time-after-reset = 1\n'
                # Graceful-restart helper (capability 64, no address family):
                # GoBGP 3.10 sends its RTC End-of-RIB only when graceful
                # restart is negotiated (the agent advertises it too).
                f'  [neighbors.graceful-restart.config]\n    enabled = true\n'
                f'  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n'
                f'      afi-safi-name = "rtc"\n')
        (self.dir / "gobgpd.toml").write_text("".join(conf))
        self.logfile = open(self.dir / "gobgpd.log", "w")
        # Several instances on one machine need --pprof-disable (shared pprof port).
        self.proc = subprocess.Popen(
            [which("gobgpd"), "-f", str(self.dir / "gobgpd.toml"), "-t", "toml", "--pprof-disable",
             "--api-hosts", f"{self.api_host}:{self.api_port}"],
            stdin=subprocess.DEVNULL, stdout=self.logfile, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while True:
            try:
                self.cli("global")
                break
            except subprocess.CalledProcessError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"gobgpd {name} did not start:\n{self.log()}")
                time.sleep(0.1)

    def log(self):
        self.logfile.flush()
        return (self.dir / "gobgpd.log").read_text()

    def cli(self, *args):
        out = subprocess.run([which("gobgp"), "-u", self.api_host, "-p", str(self.api_port), *args],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise subprocess.CalledProcessError(out.returncode, args, out.stdout, out.stderr)
        return out.stdout

    def neighbor(self, addr):
        return json.loads(self.cli("-j", "neighbor", addr))

    def established(self, addr):
        try:
            return self.neighbor(addr)["state"]["session_state"] == 6
        except (subprocess.CalledProcessError, KeyError, ValueError):
            return False

    def received(self, addr, kind):
        """Messages of `kind` ("refresh", "update", "notification") received from addr."""
        return int(self.neighbor(addr)["state"]["messages"]["received"].get(kind, 0) or 0)

    def uptime(self, addr):
        """When the session came up (timers.state.uptime.seconds; 0 if never)."""
        up = self.neighbor(addr).get("timers", {}).get("state", {}).get("uptime", 0) or 0
        return int(up.get("seconds", 0) if isinstance(up, dict) else up)

    def add_route_target(self, rt, rd=None):
        """Originates an RTC route for `rt` (GoBGP makes it from a VRF)."""
        self.cli("vrf", "add", f"v{rt.replace(':', '-')}", "rd", rd or rt, "rt", "both", rt)

    def rtc_rib(self):
        return self.cli("global", "rib", "-a", "rtc")

    def rtc_paths(self, prefix):
        """The paths of one RTC prefix ("ORIGIN-AS:RT", e.g. "65000:65000:100") in
        GoBGP's RIB: a list of dicts with "attrs" (MP_REACH is type 14, "nexthop")."""
        return json.loads(self.cli("-j", "global", "rib", "-a", "rtc") or "{}").get(prefix, [])

    def capabilities(self, addr, which="remote_cap"):
        """Capability names of the session with addr: "remote_cap" (what the peer
        advertised) or "local_cap" (GoBGP's own), e.g. "ExtendedNexthopCapability"."""
        caps = self.neighbor(addr)["state"].get(which, [])
        return [c["type_url"].rsplit(".", 1)[-1] for c in caps]

    def notifications(self, addr):
        """(code, subcode) of each NOTIFICATION received from addr, from gobgpd's
        log ("received notification" lines; e.g. (6, 3) is CEASE "Peer
        De-configured", RFC 4486)."""
        out = []
        for line in self.log().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "received notification" and rec.get("Key") == addr:
                out.append((rec.get("Code"), rec.get("Subcode")))
        return out

    def stop(self):
        terminate(self.proc)
        self.logfile.close()


def agent_bgp_toml(agent_port, ebgp_port, ibgp_port, route_targets=("65000:100",), extra_peers=""):
    """The agent's [bgp] section for the lab topology."""
    rts = ", ".join(f'"{r}"' for r in route_targets)
    return f'''
[bgp]
local_as = {LOCAL_AS}
router_id = "10.255.0.1"
listen = "{AGENT_BGP_ADDR}:{agent_port}"
hold_time = 30
connect_retry = 1
route_targets = [{rts}]

[[bgp.groups]]
name = "{EBGP["group"]}"

[[bgp.groups]]
name = "{IBGP["group"]}"

[[bgp.peers]]
address = "{EBGP["address"]}"
remote_as = {EBGP["asn"]}
port = {ebgp_port}
group = "{EBGP["group"]}"

[[bgp.peers]]
address = "{IBGP["address"]}"
remote_as = {IBGP["asn"]}
port = {ibgp_port}
group = "{IBGP["group"]}"
{extra_peers}
'''


def start_v6_gobgp(workdir, bgp_port=None, api_port=None):
    """The IPv6 GoBGP (IPV6): passive on [::1]:bgp_port with neighbour ::1 (the
    agent, AS LOCAL_AS), its API on 127.0.0.1; originates IPV6["rt"]."""
    g = GoBgp(workdir, IPV6["name"], IPV6["address"], IPV6["asn"],
              [{"address": IPV6["address"], "peer_as": LOCAL_AS, "remote_port": 1}],
              bgp_port=bgp_port or free_port(IPV6["address"]), api_port=api_port,
              router_id=IPV6["router_id"], passive=True)
    g.add_route_target(IPV6["rt"])
    return g


def agent_global_toml(agent_port, route_targets=("65000:100",), router_id="10.255.0.1"):
    """An agent [bgp] section with the speaker's global settings and listener
    only: no groups, no peers (those are then configured over NETCONF)."""
    rts = ", ".join(f'"{r}"' for r in route_targets)
    return f'''
[bgp]
local_as = {LOCAL_AS}
router_id = "{router_id}"
listen = "{AGENT_BGP_ADDR}:{agent_port}"
hold_time = 30
connect_retry = 1
route_targets = [{rts}]
'''


def agent_v6_bgp_toml(v6_port, route_targets=("65000:100",)):
    """The agent's [bgp] section with the IPv6 GoBGP as its only peer: the agent
    connects from ::1 to [::1]:v6_port."""
    rts = ", ".join(f'"{r}"' for r in route_targets)
    return f'''
[bgp]
local_as = {LOCAL_AS}
router_id = "10.255.0.1"
hold_time = 30
connect_retry = 1
route_targets = [{rts}]

[[bgp.groups]]
name = "{IPV6["group"]}"

[[bgp.peers]]
address = "{IPV6["address"]}"
remote_as = {IPV6["asn"]}
port = {v6_port}
group = "{IPV6["group"]}"
local_address = "{IPV6["address"]}"
'''


def start_gobgps(workdir, agent_port, ebgp_port=None, ibgp_port=None, api_ports=(None, None)):
    """Starts the eBGP and iBGP GoBGP of the lab; each originates one RT."""
    out = []
    for spec, port, api in ((EBGP, ebgp_port, api_ports[0]), (IBGP, ibgp_port, api_ports[1])):
        g = GoBgp(workdir, spec["name"], spec["address"], spec["asn"],
                  [{"address": AGENT_BGP_ADDR, "peer_as": LOCAL_AS, "remote_port": agent_port}],
                  bgp_port=port, api_port=api)
        g.add_route_target(spec["rt"])
        out.append(g)
    return out


def wait_for(pred, timeout=30.0, step=0.2):
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(step)


def lab_main():
    """`scripts/lab`: the agent with one eBGP and one iBGP GoBGP on loopback,
    for trying it by hand. Runs until Ctrl-C / SIGTERM."""
    import signal
    import sys

    agent_bin = os.environ.get("NCAGENT_BIN", "target/release/ncagent")
    password = os.environ.get("NCAGENT_ADMIN_PASSWORD")
    if not password:
        sys.exit("set NCAGENT_ADMIN_PASSWORD: the lab's users admin (level 3) and operator "
                 "(level 2) log in with it")
    netconf_port = int(os.environ.get("LAB_NETCONF_PORT", "2830"))
    agent_bgp_port = int(os.environ.get("LAB_BGP_PORT", "1179"))
    workdir = Path(os.environ.get("LAB_DIR", "lab")).resolve()
    workdir.mkdir(exist_ok=True)
    for sub in ("ebgp", "ibgp"):
        shutil.rmtree(workdir / sub, ignore_errors=True)

    ebgp, ibgp = start_gobgps(workdir, agent_bgp_port, 1790, 1791, api_ports=(50052, 50053))
    pw_hash = subprocess.run([agent_bin, "hash-password"], input=password + "\n", text=True,
                             capture_output=True, check=True).stdout.strip()
    users = "".join(f'\n[[users]]\nname = "{n}"\npassword_hash = "{pw_hash}"\nlevel = {lvl}\n'
                    for n, lvl in (("admin", 3), ("operator", 2)))
    config = workdir / "ncagent.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:{netconf_port}"\nhost_key = "{workdir}/host_key"\n'
        f'[device]\nmodel = "CE8855"\n{users}\n{agent_bgp_toml(agent_bgp_port, 1790, 1791)}')
    agent = subprocess.Popen([agent_bin, "--config", str(config)])
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    up = wait_for(lambda: stop["now"] or (ebgp.established(AGENT_BGP_ADDR)
                                            and ibgp.established(AGENT_BGP_ADDR)), 60)
    if up and not stop["now"]:
        print(f"""
lab up: NETCONF on 127.0.0.1:{netconf_port} (admin / operator, password from NCAGENT_ADMIN_PASSWORD)
  eBGP GoBGP 127.0.0.2 AS {EBGP['asn']} (group {EBGP['group']}): gobgp -u 127.0.0.2 -p 50052 neighbor 127.0.0.1
  iBGP GoBGP 127.0.0.3 AS {IBGP['asn']} (group {IBGP['group']}): gobgp -u 127.0.0.3 -p 50053 neighbor 127.0.0.1
  ("Route Refresh" under Rcvd counts the inbound soft resets.)  Ctrl-C stops the lab.
""", flush=True)
    else:
        print("lab: peers did not come up; see lab/*/gobgpd.log", file=sys.stderr)
    while not stop["now"] and agent.poll() is None:
        time.sleep(0.5)
    if agent.poll() is None:
        agent.terminate()
        agent.wait(timeout=20)
    ebgp.stop()
    ibgp.stop()


if __name__ == "__main__":
    lab_main()
