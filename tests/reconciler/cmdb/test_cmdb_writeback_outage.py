"""The write-back through a real NetBox subset that is stopped and started again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from ipaddress import IPv4Address

import pytest

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.protocols import CmdbAddress
from crds.errors import CmdbUnavailable
from localcluster.netbox import LocalNetbox, NetboxSettings
from reconciler.cmdb import Put, Remove, WriteBack, WriteBackSettings

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def addr(task: str, host: str, ip: str) -> CmdbAddress:
    return CmdbAddress(task, IPv4Address(ip), host, "shop/web")


@pytest.fixture
async def netbox() -> AsyncIterator[LocalNetbox]:
    async with LocalNetbox(NetboxSettings(token=TOKEN)) as server:
        yield server


async def test_changes_made_during_an_outage_are_written_after_it(netbox):
    settings = CmdbSettings(url=netbox.url, token=TOKEN, retries=1, backoff=0.01, timeout=2)
    async with NetboxCmdb(settings) as cmdb, asyncio.TaskGroup() as group:
        queue = WriteBack(cmdb, settings=WriteBackSettings(backoff=0.05, backoff_max=0.2))
        running = group.create_task(queue.run(), name="cmdb:writeback")
        queue.put(addr("web.1", "h1", "10.0.1.1"))
        queue.put(addr("web.2", "h1", "10.0.1.2"))
        async with asyncio.timeout(10):
            await queue.wait_in_step()

        await netbox.stop()
        queue.put(addr("web.1", "h2", "10.0.2.1"))
        queue.put(addr("web.1", "h3", "10.0.3.1"))  # coalesced with the one before
        queue.remove("web.2")
        queue.put(addr("web.3", "h2", "10.0.2.3"))
        async with asyncio.timeout(10):
            while await queue.next_pass():  # until a pass finds the CMDB gone
                pass
        assert isinstance(queue.last_error, CmdbUnavailable)
        assert queue.pending == [
            Put(addr("web.1", "h3", "10.0.3.1")),
            Remove("web.2"),
            Put(addr("web.3", "h2", "10.0.2.3")),
        ]

        await netbox.start()
        async with asyncio.timeout(10):
            await queue.wait_in_step()
        assert await cmdb.list_addresses() == [
            addr("web.1", "h3", "10.0.3.1"),
            addr("web.3", "h2", "10.0.2.3"),
        ]
        running.cancel()
