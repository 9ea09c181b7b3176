"""Fixtures: a real ncagent process on a free loopback port, real clients."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

import bgplab

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("NCAGENT_BIN", str(ROOT / "target" / "debug" / "ncagent"))

USERS = {
    # name: (password, level)
    "admin": ("admin-secret-1", 3),
    "operator": ("operator-secret-1", 2),
    "monitor": ("monitor-secret-1", 1),
}

_hashes = {}


def password_hash(pw):
    if pw not in _hashes:
        out = subprocess.run([BIN, "hash-password"], input=pw + "\n", capture_output=True,
                             text=True, check=True)
        _hashes[pw] = out.stdout.strip()
    return _hashes[pw]


class Agent:
    def __init__(self, workdir, extra="", model="CE8855", mode=None, env=None):
        self.dir = Path(workdir)
        users = "".join(
            f'\n[[users]]\nname = "{n}"\npassword_hash = "{password_hash(p)}"\nlevel = {lvl}\n'
            for n, (p, lvl) in USERS.items())
        mode_line = f'forwarding_mode = "{mode}"\n' if mode else ""
        self.config = self.dir / "ncagent.toml"
        self.config.write_text(
            f'[server]\nlisten = "127.0.0.1:0"\nhost_key = "{self.dir}/host_key"\n'
            f'[device]\nmodel = "{model}"\n{mode_line}{users}\n{extra}\n')
        self.log = open(self.dir / "agent.log", "w")
        self.proc = subprocess.Popen([BIN, "--config", str(self.config)], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True,
                                     env={**os.environ, "RUST_LOG": "info", **(env or {})})
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"agent did not start: {line!r}\n{self.logs()}")
        self.port = int(m.group(1))

    def logs(self):
        self.log.flush()
        return (self.dir / "agent.log").read_text()

    def stop(self):
        code = bgplab.terminate(self.proc)
        self.log.close()
        return code


@pytest.fixture
def start_agent():
    """Factory: start_agent(extra_toml, model=, mode=) -> Agent; stopped at teardown."""
    agents = []
    tmp = tempfile.TemporaryDirectory()

    def start(extra="", **kw):
        d = Path(tmp.name) / f"agent{len(agents)}"
        d.mkdir()
        a = Agent(d, extra, **kw)
        agents.append(a)
        return a

    yield start
    for a in agents:
        a.stop()
    tmp.cleanup()


@pytest.fixture
def agent(start_agent):
    return start_agent()


def connect(port, user="admin", timeout=30):
    from ncclient import manager
    pw = USERS[user][0]
    return manager.connect(host="127.0.0.1", port=port, username=user, password=pw,
                           hostkey_verify=False, look_for_keys=False, allow_agent=False,
                           device_params={"name": "default"}, timeout=timeout)


class SmallLab:
    """The agent peered with one eBGP (127.0.0.2) and one iBGP (127.0.0.3)
    GoBGP, both Established."""

    def __init__(self, workdir):
        workdir = Path(workdir)
        ap = bgplab.free_port()
        ep, ip = bgplab.free_port("127.0.0.2"), bgplab.free_port("127.0.0.3")
        self.ebgp, self.ibgp = bgplab.start_gobgps(workdir, ap, ep, ip)
        self.agent = None
        try:
            (workdir / "agent").mkdir()
            self.agent = Agent(workdir / "agent", bgplab.agent_bgp_toml(ap, ep, ip))
            up = bgplab.wait_for(lambda: self.ebgp.established(bgplab.AGENT_BGP_ADDR)
                                 and self.ibgp.established(bgplab.AGENT_BGP_ADDR), 40)
            assert up, self.agent.logs()
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.agent:
            self.agent.stop()
        self.ebgp.stop()
        self.ibgp.stop()


@pytest.fixture
def small_lab(tmp_path):
    lab = SmallLab(tmp_path)
    yield lab
    lab.stop()
