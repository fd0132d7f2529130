"""The NetBox client against pages in NetBox's own shape, and its error boundary (MockTransport)."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.protocols import CmdbAddress, CmdbDevice, DeviceStatus
from crds.errors import CmdbRejected, CmdbUnavailable

FIXTURES = Path(__file__).parent / "cmdb"
TOKEN = "0123456789abcdef0123456789abcdef01234567"


class Recorder:
    """A MockTransport handler: answers from a table of (method, path) → responses, in turn."""

    def __init__(self, answers: dict[tuple[str, str], list[Any]]) -> None:
        self.answers = {key: list(value) for key, value in answers.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[(request.method, request.url.path)].pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer


def client(handler, **overrides) -> tuple[NetboxCmdb, list[float]]:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    settings = CmdbSettings(url="https://netbox.example.com", token=TOKEN, **overrides)
    return NetboxCmdb(settings, transport=httpx.MockTransport(handler), sleep=sleep), slept


def page(name: str) -> httpx.Response:
    return httpx.Response(200, json=json.loads((FIXTURES / name).read_text()))


async def test_devices_in_netbox_shape_are_read_across_pages():
    handler = Recorder(
        {("GET", "/api/dcim/devices/"): [page("devices_page1.json"), page("devices_page2.json")]}
    )
    cmdb, _ = client(handler)
    async with cmdb:
        devices = await cmdb.list_devices(role="container-host")
    assert devices[0] == CmdbDevice(
        id=4012,
        name="sh1-r1-01",
        status=DeviceStatus.ACTIVE,
        site="sh1",
        rack="r1",
        role="container-host",
        tags=("dcos", "ssd"),
        domain="shop",
        address=IPv4Address("10.0.1.11"),
        attributes={"cpu_model": "E5-2680 v4"},
    )
    assert [(d.name, d.status, d.rack, d.domain) for d in devices[1:]] == [
        ("sh1-r2-01", DeviceStatus.STAGED, None, None),
        ("sh2-r1-01", DeviceStatus.DECOMMISSIONING, None, "pay"),
    ]
    first, second = handler.requests
    assert first.headers["authorization"] == f"Token {TOKEN}"
    assert first.url.params.get_list("role") == ["container-host"]
    assert str(second.url).endswith("?limit=2&offset=2&role=container-host")  # the next link as is


async def test_connection_errors_and_5xx_are_retried_with_backoff():
    refused = httpx.ConnectError("connection refused")
    handler = Recorder(
        {
            ("GET", "/api/dcim/devices/"): [
                refused,
                httpx.Response(503, text="Service Unavailable"),
                page("devices_page2.json"),
            ]
        }
    )
    cmdb, slept = client(handler, backoff=0.1)
    async with cmdb:
        devices = await cmdb.list_devices()
    assert [d.name for d in devices] == ["sh2-r1-01"]
    assert slept == [0.1, 0.2]


async def test_an_unreachable_cmdb_is_a_retryable_error_naming_the_endpoint():
    handler = Recorder({("GET", "/api/dcim/devices/"): [httpx.ConnectError("refused")] * 4})
    cmdb, slept = client(handler, backoff=0.5, backoff_max=0.8)
    async with cmdb:
        with pytest.raises(CmdbUnavailable, match=r"CMDB https://netbox.example.com unreachable"):
            await cmdb.list_devices()
    assert slept == [0.5, 0.8, 0.8]


@pytest.mark.parametrize(
    ("status", "body", "message", "field"),
    [
        pytest.param(
            400,
            {"status": ['"up" is not a valid choice.']},
            'CMDB rejected device sh1-r1-01 (400): status: "up" is not a valid choice.',
            "status",
            id="field",
        ),
        pytest.param(
            403,
            {"detail": "Invalid token"},
            "CMDB rejected device sh1-r1-01 (403): Invalid token",
            None,
            id="token",
        ),
    ],
)
async def test_4xx_is_one_line_naming_the_object_and_field(status, body, message, field):
    handler = Recorder(
        {
            ("GET", "/api/dcim/devices/"): [page("devices_page2.json")],
            ("PATCH", "/api/dcim/devices/4020/"): [httpx.Response(status, json=body)],
        }
    )
    cmdb, slept = client(handler)
    async with cmdb:
        with pytest.raises(CmdbRejected) as caught:
            await cmdb.set_device_status("sh1-r1-01", DeviceStatus.ACTIVE)
    assert str(caught.value) == message
    assert (caught.value.status, caught.value.field, slept) == (status, field, [])


async def test_put_address_patches_the_first_and_removes_duplicates():
    ip = {
        "address": "10.0.1.33/32",
        "dns_name": "",
        "description": "",
        "custom_fields": {"host": "sh1-r1-01", "app": "shop/web", "task": "web.1"},
    }
    listing = {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [{**ip, "id": 8}, {**ip, "id": 7}],
    }
    handler = Recorder(
        {
            ("GET", "/api/ipam/ip-addresses/"): [httpx.Response(200, json=listing)],
            ("PATCH", "/api/ipam/ip-addresses/7/"): [httpx.Response(200, json={"id": 7})],
            ("DELETE", "/api/ipam/ip-addresses/8/"): [httpx.Response(404, json={"detail": "x"})],
        }
    )
    cmdb, _ = client(handler)
    address = CmdbAddress("web.1", IPv4Address("10.0.1.33"), "sh1-r1-02", "shop/web")
    async with cmdb:
        await cmdb.put_address(address)
    patch = json.loads(handler.requests[1].content)
    assert patch["custom_fields"] == {"host": "sh1-r1-02", "app": "shop/web", "task": "web.1"}
    assert [r.method for r in handler.requests] == ["GET", "PATCH", "DELETE"]
