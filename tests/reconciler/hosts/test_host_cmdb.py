"""reconciler.hosts.cmdb: a CMDB device as the CMDB-owned fields of a Host."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from adapters.protocols import CmdbDevice, DeviceStatus
from crds.host import HostAttributes, HostLifecycle, HostResources, HostSpec
from reconciler.hosts.cmdb import changed_fields, host_from_device, lifecycle_of, mirror_spec

SPEC = HostSpec(
    address=IPv4Address("10.0.0.5"),
    attributes=HostAttributes(rack="r1", dc="sh1", custom={"ssd": "true"}),
    resources=HostResources(cpus=8, mem=16384),
    domain="shop",
)


def device(status: DeviceStatus = DeviceStatus.ACTIVE, **fields: object) -> CmdbDevice:
    base: dict[str, object] = {
        "id": 7,
        "name": "sh1-r1-01",
        "status": status,
        "site": "sh1",
        "rack": "r1",
        "domain": "shop",
        "address": IPv4Address("10.0.0.5"),
    }
    return CmdbDevice(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "lifecycle"),
    [
        pytest.param(DeviceStatus.ACTIVE, HostLifecycle.ACTIVE, id="active"),
        pytest.param(DeviceStatus.DECOMMISSIONING, HostLifecycle.DRAINING, id="decommissioning"),
        pytest.param(DeviceStatus.OFFLINE, HostLifecycle.DECOMMISSIONED, id="offline"),
        pytest.param(DeviceStatus.PLANNED, None, id="planned"),
        pytest.param(DeviceStatus.STAGED, None, id="staged"),
        pytest.param(DeviceStatus.FAILED, None, id="failed"),
        pytest.param(DeviceStatus.INVENTORY, None, id="inventory"),
    ],
)
def test_lifecycle_of_maps_in_service_statuses_only(
    status: DeviceStatus, lifecycle: HostLifecycle | None
) -> None:
    assert lifecycle_of(status) is lifecycle


def test_mirror_spec_is_unchanged_when_the_device_agrees() -> None:
    assert mirror_spec(SPEC, device()) == SPEC


def test_mirror_spec_takes_cmdb_fields_and_keeps_the_operators() -> None:
    new = mirror_spec(
        SPEC,
        device(
            DeviceStatus.DECOMMISSIONING,
            rack="r2",
            site="sh2",
            domain=None,
            address=IPv4Address("10.0.0.9"),
        ),
    )
    assert new.lifecycle is HostLifecycle.DRAINING
    assert (new.attributes.rack, new.attributes.dc) == ("r2", "sh2")
    assert new.attributes.custom == {"ssd": "true"}  # the operator's
    assert new.domain is None
    assert new.address == IPv4Address("10.0.0.9")
    assert (new.resources, new.profile, new.engine) == (SPEC.resources, SPEC.profile, None)
    assert changed_fields(SPEC, new) == [
        "lifecycle",
        "domain",
        "address",
        "attributes.rack",
        "attributes.dc",
    ]


def test_mirror_spec_keeps_lifecycle_and_address_the_device_does_not_give() -> None:
    draining = SPEC.model_copy(update={"lifecycle": HostLifecycle.DRAINING})
    new = mirror_spec(draining, device(DeviceStatus.STAGED, address=None))
    assert new.lifecycle is HostLifecycle.DRAINING
    assert new.address == SPEC.address


def test_host_from_device_with_resources() -> None:
    creation = host_from_device(device(attributes={"cpus": "16", "mem": "64Gi", "disk": "2Ti"}))
    host = creation.host
    assert host is not None
    assert host.metadata.name == "sh1-r1-01"
    assert host.spec.resources == HostResources(cpus=16, mem=65536, disk=2 * 1024 * 1024)
    assert host.spec.lifecycle is HostLifecycle.ACTIVE
    assert host.spec.attributes == HostAttributes(rack="r1", dc="sh1")
    assert host.spec.domain == "shop"


@pytest.mark.parametrize(
    ("dev", "reason", "words"),
    [
        pytest.param(device(attributes={"cpus": "4"}), "NoResources", "no mem", id="no-mem"),
        pytest.param(device(), "NoResources", "no cpus or mem", id="none"),
        pytest.param(
            device(attributes={"cpus": "4", "mem": "1Gi"}, address=None),
            "NoAddress",
            "no primary IPv4",
            id="no-address",
        ),
        pytest.param(
            device(attributes={"cpus": "-1", "mem": "1Gi"}),
            "BadDevice",
            "cpus",
            id="bad-cpus",
        ),
        pytest.param(
            device(DeviceStatus.PLANNED, attributes={"cpus": "4", "mem": "1Gi"}),
            "NotInService",
            "planned",
            id="planned",
        ),
    ],
)
def test_host_from_device_says_why_not(dev: CmdbDevice, reason: str, words: str) -> None:
    creation = host_from_device(dev)
    assert creation.host is None
    assert creation.reason == reason
    assert words in creation.message
    assert "sh1-r1-01" in creation.message
