"""The dashboard's routes on a running manager: real etcd, real HTTP on 127.0.0.1.

A :class:`~reconciler.runtime.Manager` (no controllers) with the dashboard
registered watches the test's etcd prefix; objects and statuses written to
etcd show in ``/api/state`` and arrive on ``/api/stream``; only GET is
served; a client that goes away leaves the stream, and a stop with a page
open ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdStore
from crds.app import App
from crds.domain import Domain
from crds.events import Event, InvolvedObject
from reconciler.dashboard import DashboardSettings, register
from reconciler.runtime import Manager, ManagerSettings

DEADLINE = 5.0


async def _until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after :data:`DEADLINE` seconds."""
    end = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Running:
    manager: Manager
    client: httpx.AsyncClient
    base: str


@contextlib.asynccontextmanager
async def dashboard(store: EtcdStore, **settings: Any) -> AsyncIterator[Running]:
    manager = Manager(store, settings=ManagerSettings(metrics_addr="127.0.0.1:0"))
    register(manager, DashboardSettings(**settings))
    manager.bind()
    assert manager.server is not None
    host, port = manager.server.address
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop), name="test:manager")
    base = f"http://{host}:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=DEADLINE) as client:

            async def healthy() -> bool:
                return (await client.get("/healthz")).status_code == 200

            await _until("the manager to serve", healthy)
            yield Running(manager, client, base)
    finally:
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await task


def _domain(name: str) -> Domain:
    return Domain.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"sharedPool": {"borrow": "WhenExhausted", "maxBorrow": {"cpus": 2}}},
        }
    )


def _app(domain: str, name: str, instances: int) -> App:
    return App.model_validate(
        {
            "metadata": {"name": name, "domain": domain},
            "spec": {"image": "registry.example.com/shop/web:1", "instances": instances},
        }
    )


async def _frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The snapshots of an event stream, as parsed JSON."""
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "snapshot":
            yield json.loads(line.removeprefix("data: "))


async def test_state_shows_what_etcd_status_holds(store: EtcdStore) -> None:
    shop = await store.create(_domain("shop"))
    status = shop.status.model_copy(update={"capacity_cpus": 8.0, "borrowed_cpus": 1.5})
    await store.update_status(shop.model_copy(update={"status": status}))
    web = await store.create(_app("shop", "web", 3))
    status = web.status.model_copy(
        update={"ready_instances": 1, "updated_instances": 2, "placement": "cpus exhausted (3)"}
    )
    await store.update_status(web.model_copy(update={"status": status}))
    now = datetime.now(UTC)
    await store.record_event(
        Event(
            involved_object=InvolvedObject(kind="App", domain="shop", name="web"),
            reason="Scaled",
            message="3 instances",
            first_timestamp=now,
            last_timestamp=now,
        )
    )
    async with dashboard(store) as running:

        async def state() -> dict[str, Any]:
            got = await running.client.get("/api/state")
            assert got.status_code == 200
            assert got.headers["content-type"] == "application/json"
            data: dict[str, Any] = got.json()
            return data

        async def listed() -> bool:
            return bool((await state())["apps"])

        await _until("the App to be listed", listed)
        data = await state()
    [domain] = data["domains"]
    assert (domain["name"], domain["capacityCpus"], domain["borrowedCpus"]) == ("shop", 8.0, 1.5)
    assert (domain["maxBorrowCpus"], domain["usedCpus"]) == (2.0, None)
    [app] = data["apps"]
    assert (app["ready"], app["updated"], app["desired"]) == (1, 2, 3)
    assert app["placement"] == "cpus exhausted (3)"
    [event] = data["events"]
    assert (event["object"], event["reason"], event["message"]) == (
        "App/shop/web",
        "Scaled",
        "3 instances",
    )
    assert data["controller"]["leader"] is True


async def test_the_page_is_self_contained_and_only_get_is_served(store: EtcdStore) -> None:
    async with dashboard(store) as running:
        page = await running.client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "://" not in page.text, "no external URL"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        assert "'unsafe-inline'" not in policy
        for path in ("/", "/api/state", "/api/stream"):
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                got = await running.client.request(method, path)
                assert got.status_code == 405, (method, path)


async def test_the_stream_sends_a_snapshot_then_each_change(store: EtcdStore) -> None:
    await store.create(_domain("shop"))
    web = await store.create(_app("shop", "web", 2))
    async with dashboard(store, interval=0.05) as running:
        async with running.client.stream("GET", "/api/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            frames = _frames(response)
            async with asyncio.timeout(DEADLINE):
                first = await anext(frames)
                while not first["apps"]:
                    first = await anext(frames)
            assert first["apps"][0]["ready"] is None
            started = time.monotonic()
            status = web.status.model_copy(update={"ready_instances": 2})
            await store.update_status(web.model_copy(update={"status": status}))
            async with asyncio.timeout(DEADLINE):
                update = await anext(frames)
                while update["apps"][0]["ready"] != 2:
                    update = await anext(frames)
            took = time.monotonic() - started
            assert running.manager.server is not None
        await _until_no_clients(running)
    assert took < 1.0, f"the change took {took:.2f}s to reach the page"


async def _until_no_clients(running: Running) -> None:
    async def clients() -> float:
        text = (await running.client.get("/metrics")).text
        line = next(ln for ln in text.splitlines() if ln.startswith("dcos_dashboard_clients "))
        return float(line.split()[1])

    async def none() -> bool:
        return await clients() == 0

    await _until("no dashboard client", none)


async def test_a_client_that_goes_away_leaves_and_a_stop_ends_open_streams(
    store: EtcdStore,
) -> None:
    manager_stopped = 0.0
    async with dashboard(store) as running:
        async with running.client.stream("GET", "/api/stream") as response:
            await anext(_frames(response))
            text = (await running.client.get("/metrics")).text
            assert "dcos_dashboard_clients 1.0" in text
        await _until_no_clients(running)  # it went away: the server noticed without writing
        other = httpx.AsyncClient(base_url=running.base, timeout=DEADLINE)
        async with other, other.stream("GET", "/api/stream") as response:
            frames = _frames(response)
            await anext(frames)
            assert running.manager.server is not None
            started = time.monotonic()
            running.manager.server.stop()
            with pytest.raises(StopAsyncIteration):
                async with asyncio.timeout(DEADLINE):
                    await anext(frames)
            manager_stopped = time.monotonic() - started
    assert manager_stopped < 1.0
