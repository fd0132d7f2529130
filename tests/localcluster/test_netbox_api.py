"""The NetBox subset over HTTP: auth, devices, filters, pagination, IP addresses, errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from localcluster.netbox import LocalNetbox, NetboxSettings

TOKEN = "0123456789abcdef0123456789abcdef01234567"
SEED = Path(__file__).parents[1] / "adapters" / "cmdb" / "hosts.yaml"


@pytest.fixture
async def netbox(tmp_path: Path) -> AsyncIterator[LocalNetbox]:
    settings = NetboxSettings(db=str(tmp_path / "cmdb.sqlite"), token=TOKEN)
    async with LocalNetbox(settings, seed_file=SEED) as server:
        yield server


@pytest.fixture
async def api(netbox: LocalNetbox) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Token {TOKEN}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=f"{netbox.url}/api", headers=headers) as client:
        yield client


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        pytest.param(None, "Authentication credentials were not provided.", id="missing"),
        pytest.param(
            "Bearer " + TOKEN, "Authentication credentials were not provided.", id="bearer"
        ),
        pytest.param("Token " + "f" * 40, "Invalid token", id="wrong"),
    ],
)
async def test_token_auth_is_refused_as_netbox_refuses_it(netbox, header, detail):
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(base_url=f"{netbox.url}/api", headers=headers) as client:
        response = await client.get("/dcim/devices/")
        status = await client.get("/status/")
    assert (response.status_code, response.json()) == (403, {"detail": detail})
    assert status.status_code == 200
    assert "netbox-version" in status.json()


async def test_devices_render_nested_objects_status_and_custom_fields(api):
    page = (await api.get("/dcim/devices/", params={"name": "sh1-r1-01"})).json()
    assert page["count"] == 1
    assert page["next"] is None and page["previous"] is None
    device = page["results"][0]
    base = str(api.base_url).rstrip("/")
    assert device["url"] == f"{base}/dcim/devices/{device['id']}/"
    assert device["status"] == {"value": "active", "label": "Active"}
    assert device["role"] == {
        "id": device["role"]["id"],
        "url": f"{base}/dcim/device-roles/{device['role']['id']}/",
        "display": "container-host",
        "name": "container-host",
        "slug": "container-host",
    }
    assert device["site"]["slug"] == "sh1"
    assert device["rack"]["name"] == "r1"
    assert device["primary_ip4"]["address"] == "10.0.1.11/32"
    assert [tag["slug"] for tag in device["tags"]] == ["dcos"]
    assert device["custom_fields"] == {"domain": "shop"}
    one = await api.get(f"/dcim/devices/{device['id']}/")
    assert one.json() == device


@pytest.mark.parametrize(
    ("params", "names"),
    [
        pytest.param({"role": "database"}, ["sh1-db-01"], id="role"),
        pytest.param({"tag": "dcos"}, ["sh1-r1-01", "sh1-r1-02", "sh1-r2-01"], id="tag"),
        pytest.param(
            [("status", "staged"), ("status", "planned")], ["sh1-r2-01", "sh2-r1-01"], id="statuses"
        ),
        pytest.param({"site": "sh2"}, ["sh2-r1-01"], id="site"),
        pytest.param({"cf_domain": "pay"}, ["sh2-r1-01"], id="custom-field"),
        pytest.param(
            {"role": "container-host", "site": "sh1", "status": "active"},
            ["sh1-r1-01", "sh1-r1-02"],
            id="combined",
        ),
    ],
)
async def test_device_filters_select_as_netbox_does(api, params, names):
    page = (await api.get("/dcim/devices/", params=params)).json()
    assert [device["name"] for device in page["results"]] == names
    assert page["count"] == len(names)


async def test_unknown_filter_choice_is_a_field_error(api):
    response = await api.get("/dcim/devices/", params={"status": "broken"})
    assert response.status_code == 400
    assert "broken is not one of the available choices" in response.json()["status"][0]
    response = await api.get("/dcim/devices/", params={"role": "nope"})
    assert response.status_code == 400 and "role" in response.json()


async def test_pagination_links_walk_every_device_once(api):
    first = (await api.get("/dcim/devices/", params={"limit": 4, "role": "container-host"})).json()
    assert first["count"] == 5 and len(first["results"]) == 4
    assert first["previous"] is None
    assert first["next"].endswith("/api/dcim/devices/?role=container-host&limit=4&offset=4")
    second = (await api.get(first["next"])).json()
    assert [d["name"] for d in second["results"]] == ["sh2-r1-01"]
    assert second["next"] is None
    assert second["previous"].endswith("?role=container-host&limit=4")


async def test_device_create_patch_delete(api):
    role = (await api.get("/dcim/device-roles/", params={"slug": "container-host"})).json()
    site = (await api.get("/dcim/sites/", params={"slug": "sh2"})).json()
    body = {
        "name": "sh2-r1-02",
        "role": role["results"][0]["id"],
        "site": {"slug": "sh2"},
        "status": "planned",
        "custom_fields": {"domain": "pay"},
    }
    created = await api.post("/dcim/devices/", json=body)
    assert created.status_code == 201, created.text
    device = created.json()
    assert device["site"]["id"] == site["results"][0]["id"]
    assert device["status"]["value"] == "planned"
    patched = await api.patch(f"/dcim/devices/{device['id']}/", json={"status": "staged"})
    assert patched.json()["status"] == {"value": "staged", "label": "Staged"}
    assert patched.json()["custom_fields"] == {"domain": "pay"}  # untouched by the PATCH
    assert (await api.delete(f"/dcim/devices/{device['id']}/")).status_code == 204
    gone = await api.get(f"/dcim/devices/{device['id']}/")
    assert (gone.status_code, gone.json()) == (404, {"detail": "Not found."})


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param({"role": 1, "site": 1}, "name", "This field is required.", id="required"),
        pytest.param(
            {"name": "x", "role": 99, "site": 1},
            "role",
            "Related object not found using the provided numeric ID: 99",
            id="role",
        ),
        pytest.param(
            {"name": "x", "role": 1, "site": 1, "status": "up"},
            "status",
            '"up" is not a valid choice.',
            id="status",
        ),
        pytest.param(
            {"name": "x", "role": 1, "site": 1, "custom_fields": {"owner": "a"}},
            "custom_fields",
            "Unknown field name 'owner' in custom field data.",
            id="cf",
        ),
    ],
)
async def test_invalid_device_is_a_400_naming_the_field(api, body, field, message):
    response = await api.post("/dcim/devices/", json=body)
    assert response.status_code == 400
    assert response.json() == {field: [message]}


async def test_ip_addresses_carry_the_container_mapping(api):
    body = {
        "address": "10.0.1.33/32",
        "status": "active",
        "dns_name": "web-1.shop",
        "custom_fields": {"host": "sh1-r1-01", "app": "shop/web", "task": "web.1"},
    }
    created = await api.post("/ipam/ip-addresses/", json=body)
    assert created.status_code == 201, created.text
    ip = created.json()
    assert ip["address"] == "10.0.1.33/32" and ip["family"]["value"] == 4
    by_task = (await api.get("/ipam/ip-addresses/", params={"cf_task": "web.1"})).json()
    by_address = (await api.get("/ipam/ip-addresses/", params={"address": "10.0.1.33"})).json()
    by_host = (await api.get("/ipam/ip-addresses/", params={"cf_host": "sh1-r1-01"})).json()
    assert by_task["results"] == by_address["results"] == by_host["results"] == [ip]
    patched = await api.patch(
        f"/ipam/ip-addresses/{ip['id']}/", json={"custom_fields": {"host": "sh1-r1-02"}}
    )
    assert patched.json()["custom_fields"] == {
        "host": "sh1-r1-02",
        "app": "shop/web",
        "task": "web.1",
    }
    bad = await api.post("/ipam/ip-addresses/", json={"address": "10.0.1.34"})
    assert bad.status_code == 400 and "address" in bad.json()
    assert (await api.delete(f"/ipam/ip-addresses/{ip['id']}/")).status_code == 204
    assert (await api.get("/ipam/ip-addresses/", params={"cf_task": "web.1"})).json()["count"] == 0


async def test_data_survives_a_restart_on_the_same_port(netbox, api):
    await api.patch("/dcim/devices/1/", json={"status": "offline"})
    url = netbox.url
    await netbox.stop()
    with pytest.raises(httpx.ConnectError):
        await api.get("/dcim/devices/1/")
    await netbox.start()
    assert netbox.url == url
    assert (await api.get("/dcim/devices/1/")).json()["status"]["value"] == "offline"


def test_module_entry_point_serves_the_seeded_hosts(tmp_path):
    command = [sys.executable, "-m", "localcluster", "netbox", "--listen", "127.0.0.1:0"]
    command += ["--db", str(tmp_path / "cmdb.sqlite"), "--token", TOKEN, "--seed", str(SEED)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as served:
        try:
            assert served.stdout is not None
            line = served.stdout.readline()  # "NetBox API on http://127.0.0.1:PORT/api/"
            url = line.split()[-1]
            headers = {"Authorization": f"Token {TOKEN}"}
            response = httpx.get(f"{url}dcim/devices/", params={"limit": 1}, headers=headers)
            assert response.json()["count"] == 6
        finally:
            served.terminate()
            served.wait(timeout=30)


def test_module_entry_point_rejects_a_malformed_token():
    done = subprocess.run(
        [sys.executable, "-m", "localcluster", "netbox", "--token", "short", "--db", ":memory:"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "40 lowercase hex" in done.stdout
