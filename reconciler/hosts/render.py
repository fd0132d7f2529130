"""The files a Host's profile means on the server: :func:`render_host`.

Three files, each rendered whole and byte-for-byte stable (keys sorted), so
configuration management can compare them with what the server has:

* ``/etc/docker/daemon.json``: every option of ``spec.profile.docker`` under
  its dockerd name. ``fixed-cidr`` is the profile's, else the host's IPAM
  block; ``default-gateway`` the profile's, else the IPPool's gateway. When
  the profile names a ``bridge`` (a Linux bridge on the VLAN the operator
  set up), dockerd uses it; otherwise, when the host's address lies inside
  the pool's cidr, ``bip`` puts docker0 on that address with the pool's
  prefix (the bridge's subnet is the whole VLAN, the block a range inside
  it). With neither, ``bip`` is left out and the bridge's subnet is the
  operator's to set;
* ``/etc/sysctl.d/90-dcos.conf``: every dotted sysctl of the profile
  (``vm.swappiness = 10``), applied by ``sysctl --system`` and at boot;
* ``/etc/udev/rules.d/60-dcos-block.rules``: the profile's block device
  settings (keys without a dot, e.g. ``read_ahead_kb``, a file of
  ``/sys/block/DEV/queue/``), for every whole disk when it appears, so they
  survive reboots and hot-plugged disks; ``udevadm trigger -s block`` applies
  them now. Left out when the profile has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from crds.host import HostProfile
from crds.ippool import IPPoolSpec

__all__ = [
    "DAEMON_JSON",
    "SYSCTL_CONF",
    "UDEV_RULES",
    "RenderedFile",
    "daemon_options",
    "render_host",
]

DAEMON_JSON = "/etc/docker/daemon.json"
SYSCTL_CONF = "/etc/sysctl.d/90-dcos.conf"
UDEV_RULES = "/etc/udev/rules.d/60-dcos-block.rules"

_UDEV_MATCH = (
    'ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL!="loop*|ram*|zram*"'
)


@dataclass(frozen=True)
class RenderedFile:
    """One file: its absolute path on the host and its whole text."""

    path: str
    content: str


def _header(comment: str, host: str) -> str:
    return f"{comment} Written by dcosctl hosts render for Host {host}; do not edit by hand.\n"


def daemon_options(
    profile: HostProfile,
    *,
    address: IPv4Address | None = None,
    block: IPv4Network | None = None,
    pool: IPPoolSpec | None = None,
) -> dict[str, object]:
    """``daemon.json``'s content: dockerd option name to value."""
    docker = profile.docker
    options: dict[str, object] = {
        "storage-driver": docker.storage_driver.value,
        "log-driver": docker.log_driver.value,
        "iptables": docker.iptables,
        "ip-forward": docker.ip_forward,
    }
    if docker.log_opts:
        options["log-opts"] = dict(docker.log_opts)
    fixed_cidr = docker.fixed_cidr or block
    if fixed_cidr is not None:
        options["fixed-cidr"] = str(fixed_cidr)
    gateway = docker.default_gateway or (pool.gateway if pool is not None else None)
    if gateway is not None:
        options["default-gateway"] = str(gateway)
    if docker.bridge is not None:
        options["bridge"] = docker.bridge
    elif pool is not None and address is not None and address in pool.cidr:
        options["bip"] = f"{address}/{pool.cidr.prefixlen}"
    return options


def render_host(
    name: str,
    profile: HostProfile,
    *,
    address: IPv4Address | None = None,
    block: IPv4Network | None = None,
    pool: IPPoolSpec | None = None,
) -> list[RenderedFile]:
    """The files Host ``name`` should have, daemon.json first.

    ``block`` is the host's block of ``pool`` (None: not allocated yet, and
    daemon.json has no ``fixed-cidr`` unless the profile sets one).
    """
    options = daemon_options(profile, address=address, block=block, pool=pool)
    files = [RenderedFile(DAEMON_JSON, json.dumps(options, indent=2, sort_keys=True) + "\n")]
    sysctls = sorted((k, v) for k, v in profile.sysctls.items() if "." in k)
    lines = [f"{key} = {value}\n" for key, value in sysctls]
    files.append(RenderedFile(SYSCTL_CONF, _header("#", name) + "".join(lines)))
    queue = sorted((k, v) for k, v in profile.sysctls.items() if "." not in k)
    if queue:
        rules = [f'{_UDEV_MATCH}, ATTR{{queue/{key}}}="{value}"\n' for key, value in queue]
        files.append(RenderedFile(UDEV_RULES, _header("#", name) + "".join(rules)))
    return files
