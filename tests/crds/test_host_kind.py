"""Host: lifecycle, domain, address, attributes, resources and profile defaults."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crds.host import HostAttributes, HostLifecycle, HostSpec, LogDriver, StorageDriver

MINIMAL: dict[str, Any] = {"address": "10.10.1.11", "resources": {"cpus": 46, "mem": "250Gi"}}


def test_defaults_are_the_platform_profile() -> None:
    spec = HostSpec.model_validate(MINIMAL)
    assert spec.lifecycle is HostLifecycle.ACTIVE
    assert spec.domain is None
    assert spec.resources.mem == 250 * 1024
    assert spec.resources.disk == 0
    docker = spec.profile.docker
    assert docker.storage_driver is StorageDriver.OVERLAY
    assert docker.iptables is False
    assert docker.ip_forward is False
    assert docker.log_driver is LogDriver.JOURNALD
    assert docker.fixed_cidr is None
    assert docker.default_gateway is None
    assert spec.profile.sysctls == {}


def test_profile_keeps_sysctl_values_as_written() -> None:
    spec = HostSpec.model_validate(
        {
            **MINIMAL,
            "profile": {
                "sysctls": {"vm.swappiness": 10, "read_ahead_kb": 8192, "net/core/rmem": "4096"},
                "docker": {"fixedCidr": "10.110.0.16/28", "defaultGateway": "10.110.0.1"},
            },
        }
    )
    assert spec.profile.sysctls == {
        "vm.swappiness": 10,
        "read_ahead_kb": 8192,
        "net/core/rmem": "4096",
    }
    assert str(spec.profile.docker.fixed_cidr) == "10.110.0.16/28"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"lifecycle": "Retired"}, "Active", id="lifecycle-unknown"),
        pytest.param({"domain": "Checkout"}, "must be a DNS label", id="domain-not-dns"),
        pytest.param({"address": "10.10.1.300"}, "IPv4", id="address-not-ipv4"),
        pytest.param({"address": "fe80::1"}, "IPv4", id="address-ipv6"),
        pytest.param({"resources": {"cpus": 0, "mem": 1024}}, "greater than 0", id="cpus-zero"),
        pytest.param({"resources": {"cpus": 1}}, "mem", id="mem-missing"),
        pytest.param(
            {"attributes": {"custom": {"rack": "r9"}}}, "must not set 'rack'", id="custom-shadows"
        ),
        pytest.param(
            {"profile": {"sysctls": {"vm swappiness": 1}}}, "must look like", id="sysctl-name"
        ),
        pytest.param(
            {"profile": {"docker": {"storageDriver": "aufs2"}}}, "overlay", id="storage-driver"
        ),
        pytest.param({"profile": {"docker": {"logDriver": "splunk"}}}, "journald", id="log-driver"),
        pytest.param(
            {"profile": {"docker": {"fixedCidr": "10.110.0.17/28"}}},
            "host bits set",
            id="fixed-cidr-host-bits",
        ),
        pytest.param(
            {"profile": {"docker": {"fixed-cidr": "10.110.0.16/28"}}},
            "Extra inputs are not permitted",
            id="dash-spelling",
        ),
    ],
)
def test_host_spec_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HostSpec.model_validate({**MINIMAL, **change})


def test_attributes_as_mesos_merge_fixed_and_custom() -> None:
    attributes = HostAttributes(rack="r1", dc="sh1", custom={"ssd": "true"})
    assert attributes.as_mesos() == {"rack": "r1", "dc": "sh1", "ssd": "true"}
    assert HostAttributes().as_mesos() == {}
