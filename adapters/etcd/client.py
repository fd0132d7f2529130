"""The aetcd boundary: typed calls in, typed results out, crds.errors on failure.

aetcd is untyped and covers only part of etcd's API (no ``revision=`` on
range reads, no header in transaction results, no TLS). This module talks to
its gRPC stubs directly for ranges and transactions, and uses aetcd for what
it does well: the channel, authentication and the watch stream. Every call
runs under ``asyncio.timeout(settings.timeout)``, and every aetcd or gRPC
exception is translated here, so nothing above this module sees either
library: :class:`crds.errors.Unavailable` names the endpoint,
:class:`CompactedError` tells the watch loop to relist.

:mod:`adapters.etcd.store` builds the object store on these calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# gRPC's core logs a failed TLS handshake to stderr at INFO; the error says it already.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import aetcd  # after GRPC_VERBOSITY, which grpc reads when it loads
import aetcd.exceptions
from aetcd import rpc

from adapters.etcd.settings import Endpoint, EtcdSettings
from crds.errors import DcosError, StoreError, Unavailable

__all__ = [
    "HINT",
    "KV",
    "CompactedError",
    "Compare",
    "DeleteKey",
    "EtcdClient",
    "Get",
    "PermissionDenied",
    "Put",
    "TxnResult",
    "WatchRecord",
    "prefix_end",
]

logger = logging.getLogger(__name__)

HINT = "is etcd running? start it with `dcosctl up` or set --etcd/DCOS_ETCD"
_GRPC_OPTIONS = {
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
    "grpc.max_send_message_length": 16 * 1024 * 1024,
    # Reconnect quickly after etcd restarts instead of gRPC's default 1s..120s backoff.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 5000,
}
_TLS_HINT = (
    "the TLS handshake failed: check ca-file, and cert-file/key-file if etcd "
    "requires client certificates"
)
_UNAVAILABLE_CODES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED")
_INVALID_TOKEN = "invalid auth token"


class CompactedError(StoreError):
    """The revision asked for is older than etcd's compaction point."""

    def __init__(self, message: str, revision: int) -> None:
        super().__init__(message)
        self.revision = revision


class PermissionDenied(StoreError):
    """etcd's auth refused this user the key range a call reads or writes."""


class TokenExpiredError(StoreError):
    """etcd no longer accepts the auth token; authenticating again fixes it."""


@dataclass(frozen=True, slots=True)
class KV:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Put:
    key: bytes
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class DeleteKey:
    key: bytes


@dataclass(frozen=True, slots=True)
class Get:
    key: bytes


@dataclass(frozen=True, slots=True)
class Compare:
    """``target(key) op value``: e.g. ``Compare(k, "mod", "=", 7)``."""

    key: bytes
    target: Literal["create", "mod"]
    op: Literal["=", ">"]
    value: int


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    gets: list[KV | None]
    """One entry per Get op of the branch that ran, in order."""


@dataclass(frozen=True, slots=True)
class WatchRecord:
    deleted: bool
    kv: KV


def prefix_end(prefix: bytes) -> bytes:
    end: bytes = aetcd.utils.prefix_range_end(prefix)
    return end


def _kv(raw: Any) -> KV:
    return KV(raw.key, raw.value, raw.create_revision, raw.mod_revision)


class _TlsClient(aetcd.Client):  # type: ignore[misc]  # aetcd is untyped
    """aetcd.Client whose channel is a TLS channel (aetcd itself only dials plaintext)."""

    _is_connecting: bool

    def __init__(self, *, credentials: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._credentials = credentials

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        if self._is_connecting:
            async with asyncio.timeout(self._connect_wait_timeout):  # keeps a cancel (3.11)
                await self._connected.wait()
            return
        try:
            self._is_connecting = True
            target = f"{self._host}:{self._port}"
            self.channel = rpc.secure_channel(
                target, self._credentials, options=list(self._options.items())
            )
            if self._username is not None:
                self.auth_stub = rpc.AuthStub(self.channel)
                request = rpc.AuthenticateRequest(name=self._username, password=self._password)
                response = await self.auth_stub.Authenticate(request, timeout=self._timeout)
                self.metadata = (("token", response.token),)
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = aetcd.Watcher(
                rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
            )
            self._connected.set()
        finally:
            self._is_connecting = False


def _tls_credentials(settings: EtcdSettings) -> Any:
    import grpc  # type: ignore[import-untyped]  # grpcio ships no type hints

    def read(path: str | None) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(
        root_certificates=read(settings.ca_file),
        private_key=read(settings.key_file),
        certificate_chain=read(settings.cert_file),
    )


def _build_client(settings: EtcdSettings, endpoint: Endpoint) -> Any:
    kwargs: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "username": settings.username,
        "password": settings.password,
        "timeout": settings.timeout,
        "options": dict(_GRPC_OPTIONS),
    }
    if endpoint.tls or settings.tls:
        return _TlsClient(credentials=_tls_credentials(settings), **kwargs)
    return aetcd.Client(**kwargs)


class EtcdClient:
    """One connection to one etcd endpoint, with typed, translated calls."""

    def __init__(self, settings: EtcdSettings, endpoint: Endpoint) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self._client: Any = _build_client(settings, endpoint)

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Map aetcd/gRPC failures of ``what`` onto crds.errors, naming the endpoint.

        A task being cancelled gets CancelledError, whatever gRPC said: when a
        cancel meets a call that has just completed, gRPC swallows the cancel and
        raises an RpcError, which mapped onto a DcosError would be caught and
        retried by a worker loop that must end instead."""
        try:
            with self._mapped(what):
                yield
        except DcosError as exc:
            task = asyncio.current_task()
            if (
                task is not None
                and task.cancelling()
                and not isinstance(exc.__cause__, TimeoutError)
            ):
                raise asyncio.CancelledError(f"cancelled during {what}") from exc
            raise

    @contextlib.contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        where = f"etcd at {self.endpoint}"
        try:
            yield
        except TimeoutError as exc:
            raise Unavailable(
                f"{where} did not answer {what} within {self.settings.timeout}s ({HINT})"
            ) from exc
        except aetcd.RevisionCompactedError as exc:
            raise CompactedError(f"{where}: {exc}", exc.compacted_revision) from exc
        except (
            aetcd.ConnectionFailedError,
            aetcd.ConnectionTimeoutError,
            aetcd.WatchTimeoutError,
        ) as exc:
            raise Unavailable(f"{where} is unavailable during {what}: {exc} ({HINT})") from exc
        except aetcd.exceptions.UnauthenticatedError as exc:
            if _INVALID_TOKEN in str(exc):
                raise TokenExpiredError(f"{where}: {exc}") from exc
            raise StoreError(f"{where} refused the credentials during {what}: {exc}") from exc
        except aetcd.ClientError as exc:
            raise StoreError(f"{where} failed {what}: {exc}") from exc
        except rpc.AioRpcError as exc:
            code = exc.code().name
            details = exc.details()
            if code in _UNAVAILABLE_CODES:
                hint = _TLS_HINT if "handshake" in (details or "").lower() else HINT
                raise Unavailable(
                    f"{where} is unavailable during {what}: {details} ({hint})"
                ) from exc
            if code == "UNAUTHENTICATED" and _INVALID_TOKEN in (details or ""):
                raise TokenExpiredError(f"{where}: {details}") from exc
            if code == "PERMISSION_DENIED":
                user = self.settings.username
                who = f"user {user!r}" if user else "a client without credentials"
                raise PermissionDenied(f"{where}: permission denied for {who}: {what}") from exc
            if code == "OUT_OF_RANGE" and "compacted" in (details or ""):
                raise CompactedError(f"{where}: {details}", 0) from exc
            raise StoreError(f"{where} failed {what}: {code}: {details}") from exc

    async def connect(self) -> None:
        with self._translate("connect"):
            async with asyncio.timeout(self.settings.timeout):
                await self._client.connect()

    async def close(self) -> None:
        with self._translate("close"):
            async with asyncio.timeout(self.settings.timeout):
                await self._client.close()

    async def _unary(self, what: str, stub: str, method: str, request: Any) -> Any:
        for attempt in (1, 2):
            try:
                with self._translate(what):
                    async with asyncio.timeout(self.settings.timeout):
                        await self._client.connect()
                        call = getattr(getattr(self._client, stub), method)
                        return await call(
                            request, timeout=self.settings.timeout, metadata=self._client.metadata
                        )
            except TokenExpiredError:
                if attempt == 2 or self.settings.username is None:
                    raise
                await self._authenticate_again()
        raise AssertionError("unreachable")

    async def _authenticate_again(self) -> None:
        """Swap in a fresh auth token (etcd's simple tokens expire when idle).

        aetcd authenticates once, at connect. The new token goes on unary calls
        and on the watcher, whose stream is restarted so that watches created
        from now on carry it; open watches see their stream end and resume.
        """
        logger.info("etcd at %s: auth token expired; authenticating again", self.endpoint)
        request = rpc.AuthenticateRequest(
            name=self.settings.username, password=self.settings.password
        )
        with self._translate("authentication"):
            async with asyncio.timeout(self.settings.timeout):
                response = await self._client.auth_stub.Authenticate(
                    request, timeout=self.settings.timeout
                )
        metadata = (("token", response.token),)
        self._client.metadata = metadata
        watcher = self._client._watcher
        if watcher is not None:
            watcher._metadata = metadata
            with self._translate("watch restart"):
                async with asyncio.timeout(self.settings.timeout):
                    await watcher.shutdown()

    async def range(
        self, start: bytes, end: bytes | None = None, *, revision: int = 0, limit: int = 0
    ) -> tuple[list[KV], int, bool]:
        """Keys in ``[start, end)`` (just ``start`` when end is None) as of
        ``revision`` (0: now). Returns (kvs sorted by key, header revision, more)."""
        request = rpc.RangeRequest(key=start, revision=revision, limit=limit)
        if end is not None:
            request.range_end = end
        try:
            response = await self._unary("range read", "kvstub", "Range", request)
        except PermissionDenied as exc:
            span = start.decode(errors="replace") + ("" if end is None else "*")
            raise PermissionDenied(f"{exc} of {span}") from exc.__cause__
        return [_kv(kv) for kv in response.kvs], response.header.revision, response.more

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[Put | DeleteKey | Get],
        failure: Sequence[Put | DeleteKey | Get] = (),
    ) -> TxnResult:
        request = rpc.TxnRequest(
            compare=[_compare(c) for c in compares],
            success=[_request_op(op) for op in success],
            failure=[_request_op(op) for op in failure],
        )
        try:
            response = await self._unary("transaction", "kvstub", "Txn", request)
        except PermissionDenied as exc:
            raise PermissionDenied(f"{exc} {_describe(success)}") from exc.__cause__
        gets: list[KV | None] = []
        for op in response.responses:
            if op.WhichOneof("response") == "response_range":
                kvs = op.response_range.kvs
                gets.append(_kv(kvs[0]) if kvs else None)
        return TxnResult(response.succeeded, response.header.revision, gets)

    async def auth(self, what: str, method: str, request: Any) -> Any:
        """One call of etcd's Auth service (``method`` of ``AuthStub``), for
        :mod:`adapters.etcd.auth`; the stub exists even without credentials."""
        with self._translate("connect"):
            async with asyncio.timeout(self.settings.timeout):
                await self._client.connect()
        if self._client.auth_stub is None:
            self._client.auth_stub = rpc.AuthStub(self._client.channel)
        return await self._unary(what, "auth_stub", method, request)

    async def grant_lease(self, ttl: int) -> int:
        response = await self._unary(
            "lease grant", "leasestub", "LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl)
        )
        lease_id: int = response.ID
        return lease_id

    async def compact(self, revision: int) -> None:
        await self._unary(
            "compaction", "kvstub", "Compact", rpc.CompactionRequest(revision=revision)
        )

    async def watch(
        self, start: bytes, end: bytes, *, start_revision: int
    ) -> AsyncIterator[WatchRecord]:
        """Changes to ``[start, end)`` from ``start_revision`` (inclusive) until the
        stream breaks; raises CompactedError, Unavailable or StoreError when it does.

        A one-key read of the range comes first: aetcd ignores a watch that etcd
        cancels at creation (permission denied, expired token), which would
        otherwise be a watch that silently never reports anything. The read
        raises instead, and renews an expired token.
        """
        await self.range(start, end, limit=1)
        with self._translate("watch"):
            async with asyncio.timeout(self.settings.timeout):
                watch = await self._client.watch(
                    start, range_end=end, start_revision=start_revision
                )
        try:
            with self._translate("watch"):
                async for event in watch:
                    yield WatchRecord(event.kind == "DELETE", _kv(event.kv))
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.settings.timeout):
                    await watch.cancel()


def _describe(ops: Sequence[Put | DeleteKey | Get], most: int = 3) -> str:
    """``writing /dcos/spec/App/a/b, ... and 2 more``: the keys a refused
    transaction would have written (read-only: the keys it reads)."""
    writes = [op.key for op in ops if not isinstance(op, Get)]
    verb, keys = ("writing", writes) if writes else ("reading", [op.key for op in ops])
    names = ", ".join(key.decode(errors="replace") for key in keys[:most])
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return f"{verb} {names}{more}"


def _compare(compare: Compare) -> Any:
    message = rpc.Compare(
        key=compare.key,
        result=rpc.Compare.EQUAL if compare.op == "=" else rpc.Compare.GREATER,
    )
    if compare.target == "create":
        message.target = rpc.Compare.CREATE
        message.create_revision = compare.value
    else:
        message.target = rpc.Compare.MOD
        message.mod_revision = compare.value
    return message


def _request_op(op: Put | DeleteKey | Get) -> Any:
    if isinstance(op, Put):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=op.key, value=op.value, lease=op.lease))
    if isinstance(op, DeleteKey):
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=op.key))
    return rpc.RequestOp(request_range=rpc.RangeRequest(key=op.key))
