"""IPAM: an IPPool's addresses, cut into per-host blocks, one address per instance.

The policy lives here as pure functions; the records live in an
:class:`adapters.protocols.IpamStore` (etcd), which only makes each claim
atomic. Modules:

- :mod:`.addresses` — carve a pool into blocks, the usable addresses of a
  block, and the candidates to try for a host's next block or an instance's IP;
- :mod:`.usage` — blocks, used and free addresses and utilisation, per host;
- :mod:`.change` — :func:`check_pool_change`: which allocations a new spec strands;
- :mod:`.allocator` — :class:`Ipam`, the loop tying candidates to the store;
- :mod:`.check` — :func:`check` and :func:`confirm_leaks`: allocations against
  instance records and containers (leaks, conflicts, addresses outside).

**Block edges.** A block is a Docker ``--fixed-cidr``: a range inside the
bridge's subnet, which is the pool's whole cidr. The VLAN's network and
broadcast addresses are those of the pool, so the first and last address of
each block are ordinary host addresses and are handed out (Docker's own
allocator does the same inside a ``--fixed-cidr``). Never handed out: the
pool's network and broadcast addresses, the gateway and every reserved range.

**Cooldown.** A released address keeps its record (and so stays in its host's
block) with the time it was released; it is offered again only once
``cooldown`` seconds have passed, least recently released first, and only
after every never-used address of the block.
"""

from reconciler.ipam.addresses import (
    block_candidates,
    carve,
    ip_candidates,
    usable_addresses,
)
from reconciler.ipam.allocator import Ipam, IpamExhausted
from reconciler.ipam.change import PoolChangeCheck, Stranded, check_pool_change
from reconciler.ipam.check import (
    CheckReport,
    ContainerAddress,
    Finding,
    FindingKind,
    InstanceAddress,
    Sighting,
    check,
    confirm_leaks,
)
from reconciler.ipam.usage import HostUsage, PoolUsage, utilisation

__all__ = [
    "CheckReport",
    "ContainerAddress",
    "Finding",
    "FindingKind",
    "HostUsage",
    "InstanceAddress",
    "Ipam",
    "IpamExhausted",
    "PoolChangeCheck",
    "PoolUsage",
    "Sighting",
    "Stranded",
    "block_candidates",
    "carve",
    "check",
    "check_pool_change",
    "confirm_leaks",
    "ip_candidates",
    "usable_addresses",
    "utilisation",
]
