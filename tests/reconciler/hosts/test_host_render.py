"""reconciler.hosts.render: a Host's profile as the files the server should have,
byte for byte."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from crds.host import DockerDaemonOptions, HostProfile
from crds.ippool import IPPoolSpec
from reconciler.hosts.render import DAEMON_JSON, SYSCTL_CONF, UDEV_RULES, render_host

PROFILE = HostProfile.model_validate(
    {
        "sysctls": {"vm.swappiness": 10, "read_ahead_kb": 8192, "net.core.somaxconn": 32768},
        "docker": {"storageDriver": "overlay", "logDriver": "journald"},
    }
)
POOL = IPPoolSpec.model_validate(
    {
        "vlan": 110,
        "cidr": "10.110.0.0/22",
        "gateway": "10.110.0.1",
        "reserved": ["10.110.0.2-10.110.0.15"],
    }
)
BLOCK = IPv4Network("10.110.0.16/28")

DAEMON = """\
{
  "bip": "10.110.0.5/22",
  "default-gateway": "10.110.0.1",
  "fixed-cidr": "10.110.0.16/28",
  "ip-forward": false,
  "iptables": false,
  "log-driver": "journald",
  "storage-driver": "overlay"
}
"""
SYSCTL = """\
# Written by dcosctl hosts render for Host sh1-r1-01; do not edit by hand.
net.core.somaxconn = 32768
vm.swappiness = 10
"""
UDEV = """\
# Written by dcosctl hosts render for Host sh1-r1-01; do not edit by hand.
ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL!="loop*|ram*|zram*", \
ATTR{queue/read_ahead_kb}="8192"
"""


def test_a_host_in_its_pool_gets_daemon_json_sysctls_and_udev_rules() -> None:
    files = render_host(
        "sh1-r1-01", PROFILE, address=IPv4Address("10.110.0.5"), block=BLOCK, pool=POOL
    )

    assert [(f.path, f.content) for f in files] == [
        (DAEMON_JSON, DAEMON),
        (SYSCTL_CONF, SYSCTL),
        (UDEV_RULES, UDEV),
    ]


def test_without_a_block_there_is_no_fixed_cidr_and_outside_the_pool_no_bip() -> None:
    files = render_host("sh1-r1-01", PROFILE, address=IPv4Address("10.10.1.11"), pool=POOL)

    assert files[0].content == (
        "{\n"
        '  "default-gateway": "10.110.0.1",\n'
        '  "ip-forward": false,\n'
        '  "iptables": false,\n'
        '  "log-driver": "journald",\n'
        '  "storage-driver": "overlay"\n'
        "}\n"
    )


def test_profile_options_win_and_a_named_bridge_replaces_bip() -> None:
    docker = DockerDaemonOptions(
        fixed_cidr=IPv4Network("10.110.0.32/28"),
        default_gateway=IPv4Address("10.110.0.2"),
        storage_driver="overlay2",
        iptables=True,
        ip_forward=True,
        log_driver="json-file",
        log_opts={"max-size": "100m", "max-file": "3"},
        bridge="br0",
    )

    files = render_host(
        "h1",
        HostProfile(docker=docker),
        address=IPv4Address("10.110.0.5"),
        block=BLOCK,
        pool=POOL,
    )

    assert [f.path for f in files] == [DAEMON_JSON, SYSCTL_CONF]
    assert files[0].content == (
        "{\n"
        '  "bridge": "br0",\n'
        '  "default-gateway": "10.110.0.2",\n'
        '  "fixed-cidr": "10.110.0.32/28",\n'
        '  "ip-forward": true,\n'
        '  "iptables": true,\n'
        '  "log-driver": "json-file",\n'
        '  "log-opts": {\n'
        '    "max-file": "3",\n'
        '    "max-size": "100m"\n'
        "  },\n"
        '  "storage-driver": "overlay2"\n'
        "}\n"
    )
    assert files[1].content == (
        "# Written by dcosctl hosts render for Host h1; do not edit by hand.\n"
    )
