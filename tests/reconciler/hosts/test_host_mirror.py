"""reconciler.hosts.mirror: the sync loop's backoff on CMDB failures, and what it
writes, on a real etcd with an in-test list of devices standing for the CMDB."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import CmdbDevice, DeviceStatus, ObjectKey
from crds.errors import CmdbUnavailable
from crds.host import Host
from reconciler.hosts.mirror import CmdbMirror, MirrorSettings
from reconciler.runtime import Informer, Recorder


class Devices:
    """A CMDB's device list that fails ``failures`` times first."""

    def __init__(self, devices: list[CmdbDevice], failures: int = 0) -> None:
        self.devices = devices
        self.failures = failures
        self.calls = 0

    async def list_devices(
        self,
        *,
        role: str | None = None,
        tag: str | None = None,
        statuses: Sequence[DeviceStatus] = (),
        site: str | None = None,
        domain: str | None = None,
    ) -> list[CmdbDevice]:
        self.calls += 1
        if self.calls <= self.failures:
            raise CmdbUnavailable(f"CMDB http://cmdb: connection refused (call {self.calls})")
        return list(self.devices)

    async def get_device(self, name: str) -> CmdbDevice:
        return next(d for d in self.devices if d.name == name)

    async def set_device_status(self, name: str, status: DeviceStatus) -> CmdbDevice:
        raise AssertionError("the mirror never changes devices")


class Stop(Exception):
    pass


def device(name: str, status: DeviceStatus = DeviceStatus.ACTIVE, rack: str = "r1") -> CmdbDevice:
    return CmdbDevice(
        id=1, name=name, status=status, site="sh1", rack=rack, address=IPv4Address("10.0.0.5")
    )


async def run_until(mirror: CmdbMirror, sleeps: list[float], count: int) -> None:
    """Run the loop until it has slept ``count`` times."""

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) >= count:
            raise Stop

    mirror._sleep = sleep
    with pytest.raises(Stop):
        await mirror.run()


async def test_failures_back_off_doubling_up_to_the_interval(store: EtcdStore) -> None:
    hosts = Informer(store, "Host")
    await hosts.relist()
    cmdb = Devices([device("h1")], failures=5)
    synced: list[str | None] = []
    mirror = CmdbMirror(
        cmdb=cmdb,
        store=store,
        hosts=hosts,
        recorder=Recorder(store, "test"),
        settings=MirrorSettings(interval=3.0, backoff_initial=0.5),
    )
    mirror.on_sync = lambda: synced.append(mirror.error)
    sleeps: list[float] = []
    await run_until(mirror, sleeps, 7)
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]  # then the interval, once it answers
    assert [e is not None for e in synced] == [True] * 5 + [False] * 2
    assert synced[0] is not None and "connection refused" in synced[0]
    assert mirror.error is None and mirror.last_sync is not None and mirror.syncs == 2


async def test_a_sync_writes_only_what_differs(store: EtcdStore) -> None:
    host = Host.model_validate(
        {
            "metadata": {"name": "h1"},
            "spec": {
                "address": "10.0.0.5",
                "attributes": {"rack": "r9", "dc": "sh1"},
                "resources": {"cpus": 4, "mem": 1024},
            },
        }
    )
    created = await store.create(host)
    hosts = Informer(store, "Host")
    await hosts.relist()
    recorder = Recorder(store, "test")
    mirror = CmdbMirror(
        cmdb=Devices([device("h1", DeviceStatus.DECOMMISSIONING)]),
        store=store,
        hosts=hosts,
        recorder=recorder,
    )
    await mirror.sync()
    got = await store.get(ObjectKey.of(host))
    assert isinstance(got, Host)
    assert (got.spec.lifecycle, got.spec.attributes.rack) == ("Draining", "r1")
    assert got.spec.resources == host.spec.resources
    await hosts.relist()
    await mirror.sync()  # nothing differs now: nothing written
    again = await store.get(ObjectKey.of(host))
    assert again.metadata.resource_version == got.metadata.resource_version
    assert got.metadata.resource_version != created.metadata.resource_version
    await recorder.flush()
    [event] = await store.events(ObjectKey.of(host))
    assert event.reason == "CmdbSynced"
    assert event.message == "from CMDB device: lifecycle Draining, attributes.rack r1"
