"""The NetBox client over the wire against localcluster's NetBox subset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.protocols import CmdbAddress, DeviceStatus
from crds.errors import CmdbRejected, CmdbUnavailable
from localcluster.netbox import LocalNetbox, NetboxSettings

TOKEN = "0123456789abcdef0123456789abcdef01234567"
SEED = Path(__file__).parent / "cmdb" / "hosts.yaml"


@pytest.fixture
async def netbox() -> AsyncIterator[LocalNetbox]:
    async with LocalNetbox(NetboxSettings(token=TOKEN), seed_file=SEED) as server:
        yield server


@pytest.fixture
async def cmdb(netbox: LocalNetbox) -> AsyncIterator[NetboxCmdb]:
    settings = CmdbSettings(url=netbox.url, token=TOKEN, page_size=2, backoff=0.01)
    async with NetboxCmdb(settings) as client:
        yield client


async def test_hosts_are_listed_by_role_tag_status_and_domain_across_pages(cmdb):
    hosts = await cmdb.list_devices(role="container-host")
    assert [h.name for h in hosts] == [
        "sh1-r1-01",
        "sh1-r1-02",
        "sh1-r2-01",
        "sh1-r2-02",
        "sh2-r1-01",
    ]  # five devices on pages of two
    first = hosts[0]
    assert (first.site, first.rack, first.domain, first.address, first.tags) == (
        "sh1",
        "r1",
        "shop",
        IPv4Address("10.0.1.11"),
        ("dcos",),
    )
    tagged = await cmdb.list_devices(
        tag="dcos", statuses=[DeviceStatus.ACTIVE, DeviceStatus.STAGED]
    )
    assert [h.name for h in tagged] == ["sh1-r1-01", "sh1-r1-02", "sh1-r2-01"]
    assert [h.name for h in await cmdb.list_devices(domain="pay")] == ["sh2-r1-01"]


async def test_device_status_is_read_and_patched(cmdb):
    changed = await cmdb.set_device_status("sh1-r2-01", DeviceStatus.ACTIVE)
    assert changed.status is DeviceStatus.ACTIVE
    assert (await cmdb.get_device("sh1-r2-01")).status is DeviceStatus.ACTIVE
    with pytest.raises(CmdbRejected, match="CMDB has no device nope") as caught:
        await cmdb.get_device("nope")
    assert caught.value.status == 404


async def test_addresses_are_upserted_by_task_and_deleted(cmdb):
    web1 = CmdbAddress("web.1", IPv4Address("10.0.1.33"), "sh1-r1-01", "shop/web")
    await cmdb.put_address(web1)
    await cmdb.put_address(web1)  # idempotent
    moved = CmdbAddress("web.1", IPv4Address("10.0.1.34"), "sh1-r1-02", "shop/web")
    await cmdb.put_address(moved)
    await cmdb.put_address(CmdbAddress("db.1", IPv4Address("10.0.1.35"), "sh1-r1-02", "shop/db"))
    assert [a.task for a in await cmdb.list_addresses(host="sh1-r1-02")] == ["db.1", "web.1"]
    assert moved in await cmdb.list_addresses()
    await cmdb.delete_address("web.1")
    await cmdb.delete_address("web.1")  # nothing left: no error
    assert [a.task for a in await cmdb.list_addresses()] == ["db.1"]


async def test_a_refused_write_names_the_object_and_field(netbox):
    settings = CmdbSettings(url=netbox.url, token="f" * 40, retries=0)
    async with NetboxCmdb(settings) as client:
        with pytest.raises(CmdbRejected, match=r"^CMDB rejected devices \(403\): Invalid token$"):
            await client.list_devices()


async def test_a_stopped_cmdb_is_unavailable_then_served_again(netbox, cmdb):
    await netbox.stop()
    with pytest.raises(CmdbUnavailable, match="unreachable"):
        await cmdb.list_devices()
    await netbox.start()
    assert len(await cmdb.list_devices()) == 6
