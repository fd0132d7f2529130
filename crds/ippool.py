"""IPPool: a VLAN whose addresses are handed to containers, one IP each.

The pool's CIDR is cut into blocks of ``blockSize`` (a /28 by default); each
matching Host gets one block, which becomes its Docker bridge's
``--fixed-cidr``, and every container on the host takes a free address from
it. ``gateway`` is the VLAN's router (the containers' ``--default-gateway``);
``reserved`` addresses are never handed out. The IPAM in the reconciler keeps
the allocations in etcd (``ipam/blocks/<pool>/<cidr>`` and
``ipam/ips/<pool>/<ip>``); the status only counts them.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from crds.common import IPv4Cidr, LabelSelector, Name
from crds.meta import DcosModel, PrinterColumn, Resource, Scope, Status
from crds.registry import register

__all__ = [
    "AddressRange",
    "IPPool",
    "IPPoolHostBlocks",
    "IPPoolSpec",
    "IPPoolStatus",
    "parse_reserved",
]

AddressRange = tuple[IPv4Address, IPv4Address]
"""An inclusive range of addresses, first and last."""


def parse_reserved(entry: str) -> AddressRange:
    """``"10.20.0.5"`` or ``"10.20.0.240-10.20.0.254"`` as an inclusive range."""
    first_text, _, last_text = entry.partition("-")
    try:
        first = IPv4Address(first_text.strip())
        last = IPv4Address(last_text.strip()) if last_text else first
    except ValueError:
        raise ValueError(
            f"reserved entry {entry!r} must be an IPv4 address or a range a.b.c.d-a.b.c.e"
        ) from None
    if last < first:
        raise ValueError(f"reserved range {entry!r} ends before it starts")
    return first, last


class IPPoolSpec(DcosModel):
    """The VLAN, its addresses and which hosts draw blocks from it."""

    vlan: int = Field(ge=1, le=4094)
    """The 802.1Q VLAN id, 1-4094."""
    cidr: IPv4Cidr
    """The VLAN's subnet, e.g. 10.20.0.0/22; host bits must be zero."""
    gateway: IPv4Address
    """The VLAN's router: inside the cidr, neither its network nor its broadcast address."""
    block_size: int = Field(default=28, ge=24, le=30)
    """Prefix length of each host's block, /24 to /30; 28 gives 16 addresses per host.
    Must not be shorter than the cidr's prefix."""
    host_selector: LabelSelector = LabelSelector()
    """Hosts that draw their block from this pool, by label; empty selects every host."""
    reserved: list[str] = Field(default_factory=list)
    """Addresses never handed out, single (10.20.0.5) or ranges (10.20.0.240-10.20.0.254),
    all inside the cidr. The gateway is always reserved."""
    network: Name | None = None
    """The Docker network of the pool on each selected host's engine, which containers with
    an address of the pool join (``docker run --network NETWORK --ip IP``); left out,
    ``dcos-<pool name>``. The Host controller creates it on hosts that declare an engine."""

    @field_validator("reserved")
    @classmethod
    def _reserved_parse(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_reserved(entry)
        return value

    @model_validator(mode="after")
    def _addresses_fit(self) -> Self:
        net = self.cidr
        if self.gateway not in net:
            raise ValueError(f"gateway {self.gateway} is outside cidr {net}")
        if net.prefixlen < 31 and self.gateway in (net.network_address, net.broadcast_address):
            raise ValueError(f"gateway {self.gateway} is the network or broadcast address of {net}")
        if self.block_size < net.prefixlen:
            raise ValueError(f"blockSize /{self.block_size} is larger than cidr {net}")
        for entry in self.reserved:
            first, last = parse_reserved(entry)
            if first not in net or last not in net:
                raise ValueError(f"reserved {entry!r} is outside cidr {net}")
        return self

    def docker_network(self, pool: str) -> str:
        """The Docker network of the pool named ``pool``: ``network``, else ``dcos-<pool>``."""
        return self.network or f"dcos-{pool}"

    @property
    def block_count(self) -> int:
        """How many host blocks the cidr holds."""
        return int(2 ** (self.block_size - self.cidr.prefixlen))

    def reserved_ranges(self) -> list[AddressRange]:
        """Every address range never handed out, the gateway included."""
        return [(self.gateway, self.gateway), *(parse_reserved(e) for e in self.reserved)]

    def is_reserved(self, address: IPv4Address) -> bool:
        """True when ``address`` must not be given to a container."""
        return any(first <= address <= last for first, last in self.reserved_ranges())


class IPPoolHostBlocks(DcosModel):
    """One host's blocks of the pool and how full they are."""

    host: str
    """The Host holding the blocks."""
    blocks: list[IPv4Cidr] = Field(default_factory=list)
    """Its blocks, usually one."""
    used: int = 0
    """Addresses held by a container."""
    free: int = 0
    """Addresses that may be handed out now (released ones still cooling down are not)."""
    utilisation: float = 0.0
    """Used over the usable addresses of the blocks, 0 to 1."""


class IPPoolStatus(Status):
    """What the IPPool controller observed."""

    total_blocks: int | None = None
    """Host blocks the cidr holds."""
    allocated_blocks: int | None = None
    """Host blocks given to hosts."""
    allocated_ips: int | None = None
    """Addresses given to containers."""
    leaked_ips: int | None = None
    """Addresses held by no live instance, found by the leak check and about to be freed."""
    utilisation: float | None = None
    """Used over the usable addresses of the allocated blocks, 0 to 1."""
    hosts: list[IPPoolHostBlocks] | None = None
    """Per host holding a block: its blocks, used and free addresses, utilisation."""


@register
class IPPool(Resource):
    """A VLAN's addresses, cut into per-host blocks, one address per container."""

    SCOPE: ClassVar[Scope] = Scope.CLUSTER
    PLURAL: ClassVar[str] = "ippools"
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ("ippool", "ipp", "pool")
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = (
        PrinterColumn(name="VLAN", path="spec.vlan"),
        PrinterColumn(name="CIDR", path="spec.cidr"),
        PrinterColumn(name="BLOCK", path="spec.blockSize"),
        PrinterColumn(name="BLOCKS", path="status.allocatedBlocks"),
        PrinterColumn(name="IPS", path="status.allocatedIps"),
        PrinterColumn(name="UTIL", path="status.utilisation"),
        PrinterColumn(name="GATEWAY", path="spec.gateway", wide=True),
        PrinterColumn(name="TOTAL-BLOCKS", path="status.totalBlocks", wide=True),
    )

    kind: Literal["IPPool"] = "IPPool"
    """Always IPPool."""
    spec: IPPoolSpec
    """The VLAN, its addresses and which hosts draw blocks from it."""
    status: IPPoolStatus = IPPoolStatus()
    """What the IPPool controller observed."""

    @property
    def network_name(self) -> str:
        """The pool's Docker network: ``spec.network``, else ``dcos-<name>``."""
        return self.spec.docker_network(self.metadata.name)
