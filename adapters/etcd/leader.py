"""Leader election on an etcd lease, and writes fenced by the leader's term.

:class:`EtcdLeaderElector` implements :class:`adapters.protocols.LeaderElector`:

- **campaign**: grant a lease (``ttl`` seconds), then in one transaction
  create ``<prefix>/leader/<election>`` holding our identity on that lease,
  if it does not exist (``create_revision == 0``). When it exists, watch it
  until it is deleted (the leader resigned, or its lease expired), checking
  again at least every ``ttl`` seconds, and retry. The key's create revision
  is the term's ``revision``: the fencing token;
- **hold**: refresh the lease every ``ttl / 3`` seconds and check that the
  key still has our create revision; return at the first failure of either
  (the leader must assume the worst at once: its lease may be expiring).
  Each refresh may take only until the lease could have expired, by our own
  clock (sent before the grant or the last keepalive that answered, plus the
  TTL): a leader cut off from etcd, or stopped and resumed, steps down by
  the time another replica can be elected, not after a request timeout;
- **resign**: revoke the lease, which deletes the key, so a candidate
  watching it takes over at once rather than after the TTL.

:class:`FencedStore` is an :class:`adapters.etcd.EtcdStore` whose every
write transaction also compares the leader key's create revision with the
current term's. A deposed leader's write therefore changes nothing and
raises :class:`crds.errors.NotLeader`, even if it has not yet noticed that
its term ended. Reads are not fenced. It shares the wrapped store's
connection and leaves closing it to the wrapped store.

The runtime side (what to do when leading) is
:mod:`reconciler.runtime.leader`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aetcd import rpc

from adapters.etcd.client import Compare, DeleteKey, EtcdClient, Get, Put, TxnResult
from adapters.etcd.store import EtcdStore
from adapters.protocols import LeaderTerm
from crds.errors import NotLeader, StoreError

__all__ = ["EtcdLeaderElector", "FencedStore"]

logger = logging.getLogger(__name__)


class EtcdLeaderElector:
    def __init__(
        self, store: EtcdStore, *, identity: str, election: str = "controller", ttl: int = 5
    ) -> None:
        if ttl < 1:
            raise ValueError("the lease TTL must be at least 1 second")
        self._client = store.client
        self._identity = identity
        self.ttl = ttl
        self.key = store.keys.raw(f"leader/{election}")
        self._lease: int | None = None
        self._granted = 0.0  # monotonic time the lease's grant was sent
        self._expires = 0.0  # monotonic time by which the lease may have expired
        self._term: LeaderTerm | None = None

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def term(self) -> LeaderTerm | None:
        return self._term

    async def leader(self) -> str | None:
        """Who leads now (the identity in the key), if anyone."""
        kvs, _, _ = await self._client.range(self.key)
        return kvs[0].value.decode() if kvs else None

    async def campaign(self) -> LeaderTerm:
        self._term = None
        await self._revoke()  # a lost term's lease: its key must not linger
        while True:
            try:
                term = await self._try_once()
            except asyncio.CancelledError:
                await self._revoke()
                raise
            if term is not None:
                self._term = term
                logger.info("%s: elected (term %d)", self._identity, term.revision)
                return term

    async def _try_once(self) -> LeaderTerm | None:
        """Become leader, or wait until the key goes (or ``ttl`` passes); None to retry."""
        try:
            if self._lease is not None and time.monotonic() - self._granted > self.ttl / 3:
                self._lease = None  # aged while we waited: it would expire soon after election
            if self._lease is None:
                self._granted = time.monotonic()
                self._lease = await self._client.grant_lease(self.ttl)
            result = await self._client.txn(
                [Compare(self.key, "create", "=", 0)],
                [Put(self.key, self._identity.encode(), self._lease)],
                [Get(self.key)],
            )
        except StoreError as exc:
            logger.warning("%s: campaign failed (%s); retrying", self._identity, exc)
            self._lease = None  # it may have expired meanwhile
            await asyncio.sleep(self.ttl / 3)
            return None
        if result.succeeded:
            self._expires = self._granted + self.ttl
            return LeaderTerm(self._identity, result.revision)
        holder = result.gets[0]
        if holder is None:
            return None
        logger.debug("%s: %s leads; waiting", self._identity, holder.value.decode())
        await self._wait_deleted(holder.mod_revision + 1)
        return None

    async def _wait_deleted(self, revision: int) -> None:
        """Until the leader key is deleted after ``revision``, at most ``ttl`` seconds."""
        with contextlib.suppress(TimeoutError, StoreError):
            async with asyncio.timeout(self.ttl):
                end = self.key + b"\0"
                async for record in self._client.watch(self.key, end, start_revision=revision):
                    if record.deleted:
                        return

    async def hold(self, term: LeaderTerm) -> None:
        interval = self.ttl / 3
        try:
            while self._term == term:
                if not await self._refresh(term):
                    break
                await asyncio.sleep(interval)
        finally:
            if self._term == term:
                self._term = None
                logger.warning("%s: term %d is over", self._identity, term.revision)

    async def _refresh(self, term: LeaderTerm) -> bool:
        """Keep the lease alive and check the key is still ours; False when either fails."""
        lease = self._lease
        if lease is None:
            return False
        sent = time.monotonic()
        if sent >= self._expires:
            logger.warning("%s: the lease may have expired (no keepalive in time)", self._identity)
            return False
        try:
            async with asyncio.timeout(self._expires - sent):
                ttl = await _keepalive(self._client, lease)
                owned = await self._client.txn(
                    [Compare(self.key, "create", "=", term.revision)], []
                )
        except TimeoutError:
            logger.warning(
                "%s: no keepalive answered before the lease could expire", self._identity
            )
            return False
        except StoreError as exc:
            logger.warning("%s: lease keepalive failed: %s", self._identity, exc)
            return False
        if ttl > 0:
            self._expires = sent + ttl
        if ttl <= 0:
            logger.warning("%s: the lease expired", self._identity)
            return False
        if not owned.succeeded:
            logger.warning("%s: the leader key is no longer ours", self._identity)
            return False
        return True

    async def resign(self) -> None:
        if self._term is not None:
            logger.info("%s: resigning term %d", self._identity, self._term.revision)
        self._term = None
        await self._revoke()

    async def _revoke(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await _revoke(self._client, lease)
        except StoreError as exc:  # it expires by itself within the TTL
            logger.warning("%s: could not revoke lease %x: %s", self._identity, lease, exc)


async def _keepalive(client: EtcdClient, lease: int) -> int:
    """One keepalive of ``lease``; its remaining TTL (<= 0: gone)."""
    # aetcd's refresh_lease opens a LeaseKeepAlive stream for one request.
    with client._translate("lease keepalive"):
        async with asyncio.timeout(client.settings.timeout):
            await client._client.connect()
            reply = await client._client.refresh_lease(lease)
    return int(reply.TTL) if reply is not None else 0


async def _revoke(client: EtcdClient, lease: int) -> None:
    await client._unary(
        "lease revoke", "leasestub", "LeaseRevoke", rpc.LeaseRevokeRequest(ID=lease)
    )


class _FencedClient(EtcdClient):
    """The wrapped connection; transactions that write also compare the fence."""

    def __init__(self, inner: EtcdClient, elector: EtcdLeaderElector) -> None:
        # Share the inner client's connection rather than dialling a second one.
        self.settings = inner.settings
        self.endpoint = inner.endpoint
        self._client = inner._client
        self._elector = elector

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[Put | DeleteKey | Get],
        failure: Sequence[Put | DeleteKey | Get] = (),
    ) -> TxnResult:
        if not any(isinstance(op, Put | DeleteKey) for op in success):
            return await super().txn(compares, success, failure)
        term = self._elector.term
        if term is None:
            raise NotLeader(f"{self._elector.identity} is not the leader; nothing was written")
        fence = Compare(self._elector.key, "create", "=", term.revision)
        result = await super().txn([*compares, fence], success, failure)
        if not result.succeeded:
            kvs, _, _ = await self.range(self._elector.key)
            if not kvs or kvs[0].create_revision != term.revision:
                raise NotLeader(
                    f"{self._elector.identity} lost leadership (term {term.revision}); "
                    "nothing was written"
                )
        return result

    async def close(self) -> None:
        return None  # the wrapped store owns the connection


class FencedStore(EtcdStore):
    """``store``'s objects, with every write fenced by ``elector``'s current term."""

    def __init__(self, store: EtcdStore, elector: EtcdLeaderElector) -> None:
        super().__init__(_FencedClient(store.client, elector), store.settings)
