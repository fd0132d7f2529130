"""Host: one physical server, mirrored from the CMDB, and the profile it must have.

The CMDB (NetBox) is the source of truth for which servers exist, their
lifecycle, rack and address; the Host controller writes those fields from it.
The profile (kernel settings and Docker daemon options) is what the platform
needs on every container host; the Host controller compares it with what the
Docker engine reports and records differences in ``status.drift``.

A Host with ``spec.domain`` is dedicated to that Domain; without one it is in
the shared pool that domains may borrow from. IPPools and AgentSets pick
hosts by ``metadata.labels``; the host's block of container addresses comes
from the IPPool whose selector matches it.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from ipaddress import IPv4Address
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from crds.common import DiskMiB, IPv4Cidr, MemoryMiB, Name
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = [
    "DockerDaemonOptions",
    "Host",
    "HostAttributes",
    "HostEngine",
    "HostLifecycle",
    "HostProfile",
    "HostResources",
    "HostSpec",
    "HostStatus",
    "LogDriver",
    "ProfileDrift",
    "StorageDriver",
]

_SYSCTL_KEY = re.compile(r"^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$")


class HostLifecycle(enum.StrEnum):
    ACTIVE = "Active"
    DRAINING = "Draining"
    DECOMMISSIONED = "Decommissioned"


class HostAttributes(DcosModel):
    """Where the server stands; offered to Mesos as agent attributes, which App
    constraints (GROUP_BY rack, LIKE dc) match."""

    rack: str | None = None
    """The rack, e.g. r1."""
    dc: str | None = None
    """The data center, e.g. sh1."""
    custom: dict[str, str] = Field(default_factory=dict)
    """Further attributes, e.g. cpu-model or ssd."""

    @field_validator("custom")
    @classmethod
    def _no_shadowing(cls, value: dict[str, str]) -> dict[str, str]:
        for key in ("rack", "dc", "hostname"):
            if key in value:
                raise ValueError(f"attributes.custom must not set {key!r}; use the field")
        return value

    def as_mesos(self) -> dict[str, str]:
        """The attributes as the Mesos agent advertises them."""
        fixed = {"rack": self.rack, "dc": self.dc}
        return {**self.custom, **{key: val for key, val in fixed.items() if val is not None}}


class HostResources(DcosModel):
    """What the server offers to containers, after the system's own share."""

    cpus: float = Field(gt=0)
    """CPU shares offered to Mesos."""
    mem: MemoryMiB
    """Memory in MiB offered to Mesos; "256Gi" is accepted."""
    disk: DiskMiB = 0
    """Disk in MiB offered to Mesos; "2Ti" is accepted."""


class StorageDriver(enum.StrEnum):
    OVERLAY = "overlay"
    OVERLAY2 = "overlay2"
    DEVICEMAPPER = "devicemapper"
    BTRFS = "btrfs"
    ZFS = "zfs"
    VFS = "vfs"


class LogDriver(enum.StrEnum):
    JOURNALD = "journald"
    JSON_FILE = "json-file"
    SYSLOG = "syslog"
    NONE = "none"


class DockerDaemonOptions(DcosModel):
    """Options of the host's Docker daemon (dockerd flags of the same names)."""

    fixed_cidr: IPv4Cidr | None = None
    """--fixed-cidr: the host's block of container addresses. Usually left out:
    the IPPool controller allocates it. Set it to keep a block the host has."""
    default_gateway: IPv4Address | None = None
    """--default-gateway: the VLAN gateway containers route through."""
    storage_driver: StorageDriver = StorageDriver.OVERLAY
    """--storage-driver."""
    iptables: bool = False
    """--iptables: off, containers have routable addresses and need no NAT."""
    ip_forward: bool = False
    """--ip-forward: off, the host does not route between networks."""
    log_driver: LogDriver = LogDriver.JOURNALD
    """--log-driver: container stdout and stderr go to the journal."""
    log_opts: dict[str, str] = Field(default_factory=dict)
    """--log-opt: options of the log driver, e.g. tag: "{{.Name}}"."""
    bridge: str | None = None
    """--bridge: an existing Linux bridge on the VLAN (e.g. br0) whose address and subnet
    the operator configured; left out, docker0 takes the host's address in the IPPool."""


class HostProfile(DcosModel):
    """The settings the host must have; drift from them is reported in status."""

    sysctls: dict[str, int | str] = Field(default_factory=dict)
    """Kernel settings, e.g. vm.swappiness: 10; block device settings such as
    read_ahead_kb: 8192 are written the same way."""
    docker: DockerDaemonOptions = DockerDaemonOptions()
    """Docker daemon options."""

    @field_validator("sysctls")
    @classmethod
    def _keys_are_sysctl_names(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        for key in value:
            if not _SYSCTL_KEY.fullmatch(key):
                raise ValueError(f"sysctl name {key!r} must look like vm.swappiness")
        return value


class HostEngine(DcosModel):
    """Where the host's Docker engine listens, for the profile check."""

    url: str = Field(pattern=r"^(unix:///\S+|tcp://[^/\s]+:[0-9]+)$")
    """unix:///var/run/docker.sock, or tcp://10.0.0.5:2376 (dockerd --tlsverify)."""
    ca_file: str | None = None
    """For tcp: the CA that signed the engine's certificate, a path on the controller."""
    cert_file: str | None = None
    """For tcp: the client certificate the engine accepts; with keyFile."""
    key_file: str | None = None
    """For tcp: the client certificate's key."""
    network: str = "bridge"
    """The bridge network whose ip-range is the host's block (the default bridge)."""

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("certFile and keyFile go together")
        if self.url.startswith("tcp://") and self.ca_file is None:
            raise ValueError("a tcp:// engine needs caFile (and certFile, keyFile): TLS")
        return self


class HostSpec(DcosModel):
    """The server as the CMDB describes it, and the profile it must have."""

    lifecycle: HostLifecycle = HostLifecycle.ACTIVE
    """Active takes new instances; Draining takes none and its instances are moved
    away; Decommissioned is out of service (its agent is removed from Mesos)."""
    domain: Name | None = None
    """The Domain this server is dedicated to; left out, it is in the shared pool."""
    address: IPv4Address
    """The server's management IPv4 address, where its Mesos agent and Docker listen."""
    attributes: HostAttributes = HostAttributes()
    """Rack, data center and further attributes that constraints can match."""
    resources: HostResources
    """Capacity offered to containers."""
    profile: HostProfile = HostProfile()
    """Kernel and Docker settings the host must have."""
    engine: HostEngine | None = None
    """The Docker engine to check the profile against; left out, it is not checked."""


class ProfileDrift(DcosModel):
    """One setting whose observed value differs from the profile."""

    setting: str
    """The setting, e.g. sysctls.vm.swappiness or docker.storageDriver."""
    desired: str
    """The value in spec.profile."""
    observed: str
    """The value found on the host."""


class HostStatus(Status):
    """What the Host controller observed on the server and in Mesos."""

    agent_id: str | None = None
    """The Mesos agent id of the host, once registered."""
    block: str | None = None
    """The CIDR block of container addresses allocated to the host."""
    instances: int | None = None
    """App and AgentSet instances running on the host."""
    drift: list[ProfileDrift] = Field(default_factory=list)
    """Settings that differ from spec.profile; empty when the host conforms."""
    last_cmdb_sync: datetime | None = None
    """When the CMDB record was last read."""


@register
class Host(Resource):
    """A physical server mirrored from the CMDB: lifecycle, domain, rack and profile."""

    SCOPE: ClassVar[Scope] = Scope.CLUSTER
    PLURAL: ClassVar[str] = "hosts"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("host", "ho")
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="ADDRESS", path="spec.address"),
        PrinterColumn(name="LIFECYCLE", path="spec.lifecycle"),
        PrinterColumn(name="DOMAIN", path="spec.domain"),
        PrinterColumn(name="RACK", path="spec.attributes.rack"),
        PrinterColumn(name="INSTANCES", path="status.instances", wide=True),
        PrinterColumn(name="BLOCK", path="status.block", wide=True),
        PrinterColumn(name="CPUS", path="spec.resources.cpus", wide=True),
        PrinterColumn(name="MEM", path="spec.resources.mem", wide=True),
    )

    kind: Literal["Host"] = "Host"
    """Always Host."""
    spec: HostSpec
    """The server as the CMDB describes it, and the profile it must have."""
    status: HostStatus = HostStatus()
    """What the Host controller observed."""
