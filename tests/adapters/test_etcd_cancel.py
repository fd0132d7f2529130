"""A task being cancelled is never handed a retryable etcd error instead of its cancel.

gRPC turns a cancel that meets a call just completed into an RpcError (the
cancel itself is swallowed); mapped onto a DcosError, a worker loop that
retries DcosErrors would go on forever instead of ending.
"""

from __future__ import annotations

import asyncio
import contextlib

import aetcd
import pytest

from adapters.etcd.client import EtcdClient
from adapters.etcd.settings import EtcdSettings, parse_endpoint
from crds.errors import StoreError, Unavailable


def _client() -> EtcdClient:
    settings = EtcdSettings(endpoints=("http://127.0.0.1:2379",))
    return EtcdClient(settings, parse_endpoint(settings.endpoints[0]))


async def _fail_in(client: EtcdClient, exc: BaseException, *, cancelled: bool) -> None:
    if cancelled:  # the cancel was requested, then lost inside the call
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
    with client._translate("range read"):
        raise exc


async def test_an_rpc_error_during_a_cancel_is_the_cancel() -> None:
    failure = aetcd.ClientError("cancelled call")
    task = asyncio.create_task(_fail_in(_client(), failure, cancelled=True))
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_rpc_error_outside_a_cancel_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        await _fail_in(_client(), aetcd.ClientError("refused"), cancelled=False)


async def test_a_timeout_during_a_cancel_stays_a_timeout() -> None:
    task = asyncio.create_task(_fail_in(_client(), TimeoutError(), cancelled=True))
    with pytest.raises(Unavailable):
        await task
