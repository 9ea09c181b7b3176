"""The IPv6 peer path end to end (issue #9 item 7): ncclient -> agent over
SSH -> embedded BGP speaker -> GoBGP over ::1.

RFC 4684 §4 reads a 16-octet RTC next hop as IPv6; RFC 8950 §3 is how a peer
says it takes an IPv6 next hop for an AFI 1 family. GoBGP 3.10 advertises
<AFI 1, SAFI 132, next-hop AFI 2>; the agent advertises the same on IPv6
sessions, so the 16-octet next hop ::1 is negotiated. Checked here: the
session is Established, the capability reached GoBGP, our RTC route is in
GoBGP's RIB with next hop ::1, and a soft reset by <ipv6-address> is counted
by GoBGP (ROUTE-REFRESH received for import, UPDATEs for export) without a
session reset."""

import pytest
from lxml import etree

import bgplab
from conftest import Agent, connect

NS = "urn:ncagent:yang:ncagent-bgp-vpn-target"
V6 = bgplab.IPV6["address"]


class V6Lab:
    def __init__(self, workdir):
        self.gobgp = bgplab.start_v6_gobgp(workdir)
        self.agent = None
        try:
            (workdir / "agent").mkdir()
            self.agent = Agent(workdir / "agent", bgplab.agent_v6_bgp_toml(self.gobgp.bgp_port))
            assert bgplab.wait_for(lambda: self.gobgp.established(V6), 40), self.diagnostics()
        except BaseException:
            self.stop()
            raise

    def diagnostics(self):
        return (self.agent.logs()[-4000:] if self.agent else "") + self.gobgp.log()[-3000:]

    def stop(self):
        if self.agent:
            self.agent.stop()
        self.gobgp.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = V6Lab(tmp_path_factory.mktemp("v6lab"))
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def nc(lab):
    m = connect(lab.agent.port, "operator")
    yield m
    m.close_session()


def refresh(m, direction):
    return m.dispatch(etree.fromstring(
        f'<refresh-bgp-vpn-target xmlns="{NS}"><ipv6-address>{V6}</ipv6-address>'
        f'<direction>{direction}</direction></refresh-bgp-vpn-target>'))


def test_ipv6_session_negotiates_extended_next_hop(lab, nc):
    # RFC 8950 §3: our OPEN carried capability 5 for rtc; GoBGP's too.
    assert "ExtendedNexthopCapability" in lab.gobgp.capabilities(V6, "remote_cap")
    assert "ExtendedNexthopCapability" in lab.gobgp.capabilities(V6, "local_cap")
    # Our RTC route (origin AS 65000, RT 65000:100) with the 16-octet next hop.
    paths = bgplab.wait_for(lambda: lab.gobgp.rtc_paths("65000:65000:100"), 20)
    assert paths, lab.diagnostics()
    mp = [a for a in paths[0]["attrs"] if a.get("type") == 14]
    assert mp and mp[0]["nexthop"] == V6 and (mp[0]["afi"], mp[0]["safi"]) == (1, 132), paths
    # The agent's state shows the IPv6 peer Established.
    data = nc.get(filter=("subtree", f'<bgp-vpn-target-state xmlns="{NS}"/>')).data_ele
    peers = {p.findtext(f"{{{NS}}}address"): p for p in data.iter(f"{{{NS}}}peer")}
    assert peers[V6].findtext(f"{{{NS}}}session-state") == "established"


def test_import_by_ipv6_address_is_a_route_refresh_gobgp_counts(lab, nc):
    up = lab.gobgp.uptime(V6)
    before = lab.gobgp.received(V6, "refresh")
    assert refresh(nc, "import").ok
    assert bgplab.wait_for(lambda: lab.gobgp.received(V6, "refresh") == before + 1, 10), \
        (before, lab.gobgp.received(V6, "refresh"))
    assert lab.gobgp.established(V6)
    assert lab.gobgp.uptime(V6) == up


def test_export_by_ipv6_address_readvertises_without_reset(lab, nc):
    up = lab.gobgp.uptime(V6)
    before = lab.gobgp.received(V6, "update")
    assert refresh(nc, "export").ok
    assert bgplab.wait_for(lambda: lab.gobgp.received(V6, "update") > before, 10)
    assert lab.gobgp.established(V6)
    assert lab.gobgp.uptime(V6) == up
