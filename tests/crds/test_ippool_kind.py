"""IPPool: VLAN range, gateway placement, block size and reserved addresses."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest
from pydantic import ValidationError

from crds.ippool import IPPoolSpec

BASE: dict[str, Any] = {"vlan": 110, "cidr": "10.110.0.0/22", "gateway": "10.110.0.1"}


def test_defaults_to_28_blocks_and_every_host() -> None:
    spec = IPPoolSpec.model_validate(BASE)
    assert spec.block_size == 28
    assert spec.block_count == 64
    assert spec.host_selector.matches({"anything": "x"})
    assert spec.reserved == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"vlan": 1}, id="vlan-1"),
        pytest.param({"vlan": 4094}, id="vlan-4094"),
        pytest.param({"gateway": "10.110.3.254"}, id="gateway-last-usable"),
        pytest.param({"cidr": "10.110.0.0/28", "blockSize": 28}, id="block-equals-cidr"),
        pytest.param({"cidr": "10.110.0.0/24", "blockSize": 24}, id="block-24"),
        pytest.param({"blockSize": 30}, id="block-30"),
        pytest.param({"reserved": ["10.110.0.2", "10.110.0.240-10.110.0.254"]}, id="reserved"),
        pytest.param({"reserved": ["10.110.0.5-10.110.0.5"]}, id="reserved-one-range"),
    ],
)
def test_ippool_spec_accepts(change: dict[str, Any]) -> None:
    IPPoolSpec.model_validate({**BASE, **change})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"vlan": 0}, "greater than or equal to 1", id="vlan-0"),
        pytest.param({"vlan": 4095}, "less than or equal to 4094", id="vlan-4095"),
        pytest.param(
            {"cidr": "10.110.0.1/22"},
            "host bits set; did you mean 10.110.0.0/22",
            id="cidr-host-bits",
        ),
        pytest.param({"cidr": "10.110.0.0/33"}, "not an IPv4 network", id="cidr-prefix"),
        pytest.param({"gateway": "10.111.0.1"}, "outside cidr 10.110.0.0/22", id="gateway-outside"),
        pytest.param({"gateway": "10.110.0.0"}, "network or broadcast", id="gateway-network"),
        pytest.param({"gateway": "10.110.3.255"}, "network or broadcast", id="gateway-broadcast"),
        pytest.param(
            {"cidr": "10.110.0.0/26", "blockSize": 24},
            "blockSize /24 is larger than cidr 10.110.0.0/26",
            id="block-too-big",
        ),
        pytest.param({"blockSize": 23}, "greater than or equal to 24", id="block-below-24"),
        pytest.param({"blockSize": 31}, "less than or equal to 30", id="block-above-30"),
        pytest.param({"reserved": ["10.110.9.1"]}, "outside cidr", id="reserved-outside"),
        pytest.param(
            {"reserved": ["10.110.0.250-10.110.4.1"]}, "outside cidr", id="reserved-range-outside"
        ),
        pytest.param(
            {"reserved": ["10.110.0.9-10.110.0.2"]}, "ends before it starts", id="reserved-reversed"
        ),
        pytest.param(
            {"reserved": ["10.110.0.0/28"]}, "IPv4 address or a range", id="reserved-cidr"
        ),
        pytest.param({"reserved": ["gateway"]}, "IPv4 address or a range", id="reserved-word"),
    ],
)
def test_ippool_spec_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IPPoolSpec.model_validate({**BASE, **change})


@pytest.mark.parametrize(
    ("address", "reserved"),
    [
        pytest.param("10.110.0.1", True, id="gateway"),
        pytest.param("10.110.0.2", True, id="single"),
        pytest.param("10.110.0.245", True, id="in-range"),
        pytest.param("10.110.0.3", False, id="free"),
        pytest.param("10.110.0.239", False, id="before-range"),
    ],
)
def test_is_reserved_counts_gateway_and_ranges(address: str, reserved: bool) -> None:
    spec = IPPoolSpec.model_validate(
        {**BASE, "reserved": ["10.110.0.2", "10.110.0.240-10.110.0.254"]}
    )
    assert spec.is_reserved(IPv4Address(address)) is reserved
