"""The IPAM records on etcd: :class:`EtcdIpam` implements :class:`adapters.protocols.IpamStore`.

Keys, under the store's prefix (values are JSON):

- ``ipam/blocks/<pool>/<cidr>`` — ``{"host": h}``: the block belongs to ``h``;
- ``ipam/hosts/<pool>/<host>`` — ``{"cidr": c}``: the host's block (the index
  that keeps one block per host);
- ``ipam/ips/<pool>/<ip>`` — ``{"host": h, "owner": o, "releasedAt": t|null}``;
- ``ipam/owners/<pool>/<owner>`` — ``{"ip": a}``: the owner's held address.

Every claim is one transaction that creates a record and its index only if
neither exists (``create_revision == 0``), so no block goes to two hosts, no
host gets two blocks, no address goes to two owners and no owner holds two
addresses, whatever the number of allocators. When the record exists the
transaction reads the index instead: an owner (or host) that already holds
one gets it back, which makes allocation idempotent; otherwise the next
candidate is tried.

Release keeps the address's record, with ``releasedAt`` set, and deletes the
owner's index: the address stays in its host's block and its release time is
what the cooldown is measured from. Reusing it overwrites the record only if
it is unchanged since it was listed (``mod_revision``), so two allocators
cannot both take one released address.

Release of a block (a decommissioned host's) deletes the block, its index
and the released address records in it, in one transaction that compares
every one of them unchanged since read and every other address of the block
still absent (``create_revision == 0``), so an address taken meanwhile makes
the release fail instead of leaving an address outside any block. It is
refused (ConflictError) while an address of the block is held.

Fencing: built on a :class:`adapters.etcd.leader.FencedStore`, every claim
and release also compares the leader key, and a deposed leader's claim writes
nothing and raises :class:`crds.errors.NotLeader`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network

from adapters.etcd.client import KV, Compare, DeleteKey, Get, Put, prefix_end
from adapters.etcd.store import EtcdStore
from adapters.protocols import BlockAllocation, IpAllocation, IpCandidate, PoolAllocations
from crds.errors import ConflictError

__all__ = ["EtcdIpam"]

logger = logging.getLogger(__name__)

_RELEASE_ATTEMPTS = 10
"""Release retries when the record changed between the read and the write."""
_GUARDED_BLOCK = 64
"""Blocks of at most this many addresses also guard their unrecorded addresses
(compare ``create_revision == 0``); larger ones guard the recorded ones only."""


class EtcdIpam:
    """IPAM records in ``store``'s etcd, under its prefix."""

    def __init__(self, store: EtcdStore) -> None:
        self._client = store.client
        self._keys = store.keys

    def _key(self, kind: str, pool: str, name: str) -> bytes:
        return self._keys.raw(f"ipam/{kind}/{pool}/{name}")

    def _prefix(self, kind: str, pool: str) -> bytes:
        return self._keys.raw(f"ipam/{kind}/{pool}") + b"/"

    async def list_allocations(self, pool: str) -> PoolAllocations:
        start = self._prefix("blocks", pool)
        blocks, revision, _ = await self._client.range(start, prefix_end(start))
        start = self._prefix("ips", pool)
        ips, _, _ = await self._client.range(start, prefix_end(start), revision=revision)
        return PoolAllocations(
            blocks=tuple(self._block(pool, kv) for kv in blocks),
            ips=tuple(self._ip(pool, kv) for kv in ips),
        )

    def _block(self, pool: str, kv: KV) -> BlockAllocation:
        cidr = kv.key[len(self._prefix("blocks", pool)) :].decode()
        return BlockAllocation(pool, IPv4Network(cidr), json.loads(kv.value)["host"])

    def _ip(self, pool: str, kv: KV) -> IpAllocation:
        value = json.loads(kv.value)
        address = IPv4Address(kv.key[len(self._prefix("ips", pool)) :].decode())
        return IpAllocation(
            pool, address, value["host"], value["owner"], value["releasedAt"], kv.mod_revision
        )

    async def claim_block(
        self, *, pool: str, host: str, candidates: Sequence[IPv4Network]
    ) -> IPv4Network | None:
        index = self._key("hosts", pool, host)
        for cidr in candidates:
            block = self._key("blocks", pool, str(cidr))
            result = await self._client.txn(
                [Compare(block, "create", "=", 0), Compare(index, "create", "=", 0)],
                [
                    Put(block, json.dumps({"host": host}).encode()),
                    Put(index, json.dumps({"cidr": str(cidr)}).encode()),
                ],
                [Get(index)],
            )
            if result.succeeded:
                return cidr
            held = result.gets[0]
            if held is not None:
                return IPv4Network(json.loads(held.value)["cidr"])
            logger.debug("IPPool %s: block %s taken meanwhile", pool, cidr)
        return None

    async def allocate_ip(
        self, *, pool: str, host: str, owner: str, candidates: Sequence[IpCandidate]
    ) -> IPv4Address | None:
        index = self._key("owners", pool, owner)
        for candidate in candidates:
            key = self._key("ips", pool, str(candidate.ip))
            record = {"host": host, "owner": owner, "releasedAt": None}
            unchanged = (
                Compare(key, "mod", "=", candidate.revision)
                if candidate.revision
                else Compare(key, "create", "=", 0)
            )
            result = await self._client.txn(
                [unchanged, Compare(index, "create", "=", 0)],
                [
                    Put(key, json.dumps(record).encode()),
                    Put(index, json.dumps({"ip": str(candidate.ip)}).encode()),
                ],
                [Get(index)],
            )
            if result.succeeded:
                return candidate.ip
            held = result.gets[0]
            if held is not None:
                return IPv4Address(json.loads(held.value)["ip"])
            logger.debug("IPPool %s: %s taken meanwhile", pool, candidate.ip)
        return None

    async def release_ip(self, *, pool: str, owner: str, at: float) -> IPv4Address | None:
        index = self._key("owners", pool, owner)
        for _ in range(_RELEASE_ATTEMPTS):
            held = await self._get(index)
            if held is None:
                return None
            address = IPv4Address(json.loads(held.value)["ip"])
            key = self._key("ips", pool, str(address))
            kv = await self._get(key)
            compares = [Compare(index, "mod", "=", held.mod_revision)]
            ops: list[Put | DeleteKey] = [DeleteKey(index)]
            if kv is not None:  # else only the index is left: drop it
                record = json.loads(kv.value)
                record["releasedAt"] = at
                compares.append(Compare(key, "mod", "=", kv.mod_revision))
                ops.append(Put(key, json.dumps(record).encode()))
            result = await self._client.txn(compares, ops)
            if result.succeeded:
                return address
        raise ConflictError(f"IPPool {pool}: the address of {owner} kept changing; not released")

    async def release_block(self, *, pool: str, host: str) -> IPv4Network | None:
        index = self._key("hosts", pool, host)
        for _ in range(_RELEASE_ATTEMPTS):
            held = await self._get(index)
            if held is None:
                return None
            cidr = IPv4Network(json.loads(held.value)["cidr"])
            block = self._key("blocks", pool, str(cidr))
            start = self._prefix("ips", pool)
            kvs, revision, _ = await self._client.range(start, prefix_end(start))
            records = [(kv, self._ip(pool, kv)) for kv in kvs]
            mine = [(kv, ip) for kv, ip in records if ip.ip in cidr]
            busy = sorted(str(ip.ip) for _, ip in mine if ip.held)
            if busy:
                raise ConflictError(
                    f"IPPool {pool}: block {cidr} of host {host} still has held "
                    f"address{'es' if len(busy) > 1 else ''} {', '.join(busy)}"
                )
            blocks, _, _ = await self._client.range(block, revision=revision)
            compares = [Compare(index, "mod", "=", held.mod_revision)]
            ops: list[Put | DeleteKey] = [DeleteKey(index)]
            if blocks:
                compares.append(Compare(block, "mod", "=", blocks[0].mod_revision))
                ops.append(DeleteKey(block))
            for kv, _ in mine:
                compares.append(Compare(kv.key, "mod", "=", kv.mod_revision))
                ops.append(DeleteKey(kv.key))
            if cidr.num_addresses <= _GUARDED_BLOCK:
                recorded = {ip.ip for _, ip in mine}
                compares += [
                    Compare(self._key("ips", pool, str(address)), "create", "=", 0)
                    for address in cidr
                    if address not in recorded
                ]
            result = await self._client.txn(compares, ops)
            if result.succeeded:
                logger.info("IPPool %s: block %s of host %s released", pool, cidr, host)
                return cidr
            logger.debug("IPPool %s: block %s of host %s changed; reading again", pool, cidr, host)
        raise ConflictError(f"IPPool {pool}: the block of {host} kept changing; not released")

    async def _get(self, key: bytes) -> KV | None:
        kvs, _, _ = await self._client.range(key)
        return kvs[0] if kvs else None
