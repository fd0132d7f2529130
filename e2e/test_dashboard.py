"""The dashboard in a real headless Chromium, served by the installed ``dcos-controller``.

The test's etcd, a local master of three sim agents named like the Hosts
applied (``node-1`` dedicated to domain ``shop``, the two others in the
shared pool), an IPPool every host draws a block from, and App ``shop/web``
with two instances, each with an address of the pool. The controller
serves the page on its metrics address; Debian's ``chromium`` is driven by
``chromedriver`` through Selenium (every call in a thread: the master runs
on this test's event loop).

The page must show what a user looks for: the domain's capacity, the hosts,
the App's ready / updated / desired counts and the pool's utilisation. Then
``dcosctl scale`` raises the App to four instances: the open page must show
the new desired count, without a reload, within :data:`LIVE_WITHIN` seconds,
then the four ready instances once the controller has launched them; an
event whose message is HTML shows as text. With ``DCOS_DASHBOARD_SHOT=PATH`` the
test saves a screenshot there (``docs/dashboard.png`` is made so).

Chromium missing: the test fails under CI (``CI=true``) and skips otherwise
(``make test`` installs it: the ``browser`` target).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.events import Event, EventKind, InvolvedObject
from crds.ippool import IPPool
from e2e.browser import headless_chromium, missing
from e2e.harness import Stack, controller, sim_master_settings, until
from localcluster.etcd import free_port
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec

LIVE_WITHIN = 5.0
"""Seconds a change in etcd may take to show on the open page."""
HOSTS = {"node-1": "shop", "node-2": None, "node-3": None}
XSS = '<img src=x onerror="document.body.dataset.injected=1">'

SPECS = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: shop
spec:
  sharedPool:
    borrow: WhenExhausted
    maxBorrow:
      cpus: 2
---
apiVersion: dcos/v1
kind: IPPool
metadata:
  name: shop-v110
spec:
  vlan: 110
  cidr: 10.110.0.0/24
  gateway: 10.110.0.1
  blockSize: 28
---
apiVersion: dcos/v1
kind: App
metadata:
  name: web
  domain: shop
spec:
  image: registry.example.com/shop/web:1
  command: ["/bin/sh", "-c", "sleep 3600"]
  instances: 2
  cpus: 0.5
  mem: 64
  ipPool: shop-v110
"""


def _host(name: str, domain: str | None) -> str:
    where = f"  domain: {domain}\n" if domain else ""
    return (
        f"apiVersion: dcos/v1\nkind: Host\nmetadata:\n  name: {name}\nspec:\n{where}"
        "  address: 127.0.0.1\n  resources:\n    cpus: 4\n    mem: 4096\n"
    )


@pytest.fixture
def chromium() -> Iterator[None]:
    """Chromium and chromedriver are installed (``make browser``), else fail in CI, skip here."""
    absent = missing()
    if absent:
        reason = f"{', '.join(absent)} missing: run `make browser` (apt chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield


@pytest.fixture
async def sim_master() -> AsyncIterator[LocalMaster]:
    agents = tuple(AgentSpec(hostname=n, cpus=4, mem=4096, ports="31000-31019") for n in HOSTS)
    settings = dataclasses.replace(sim_master_settings(), agents=agents)
    async with LocalMaster(settings) as started:
        yield started


class Browser:
    """One headless Chromium through chromedriver; every call runs in a thread."""

    def __init__(self, profile: Path) -> None:
        self.driver = headless_chromium(profile, width=1400, height=1300)

    async def run(self, script: str, *args: Any) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, script, *args)

    async def rows(self, table: str) -> dict[str, dict[str, str]]:
        """The table's rows by their key: column -> the text a user sees."""
        found: dict[str, dict[str, str]] = await self.run(
            """
            const out = {};
            for (const tr of document.querySelectorAll('#' + arguments[0] + ' tbody tr')) {
              if (!tr.dataset.key) continue;
              const row = {};
              for (const td of tr.querySelectorAll('td')) row[td.dataset.col] = td.innerText;
              out[tr.dataset.key] = row;
            }
            return out;
            """,
            table,
        )
        return found


@contextlib.asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    profile = Path(tempfile.mkdtemp(prefix="dcos-chromium-"))
    opened = await asyncio.to_thread(Browser, profile)
    try:
        yield opened
    finally:
        await asyncio.to_thread(opened.driver.quit)  # stops chromedriver and its chromium
        shutil.rmtree(profile, ignore_errors=True)


async def test_the_page_shows_the_data_center_and_follows_a_scale_live(
    chromium: None,
    sim_master: LocalMaster,
    store: EtcdStore,
    etcd_endpoint: str,
    etcd_prefix: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    log = tmp_path / "dcos-controller.log"
    async with (
        controller(
            etcd=etcd_endpoint, prefix=etcd_prefix, mesos=sim_master.url, log=log, metrics_port=port
        ),
        browser() as page,
    ):
        stack = Stack(sim_master, store, etcd_endpoint, etcd_prefix, tmp_path, log)
        stack.apps.append(("shop", "web"))
        await stack.apply("---\n".join([*(_host(n, d) for n, d in HOSTS.items()), SPECS]))
        url = f"http://127.0.0.1:{port}/"

        async def serving() -> bool:
            with contextlib.suppress(httpx.TransportError):
                async with httpx.AsyncClient(timeout=1.0) as client:
                    return (await client.get(url + "healthz")).status_code == 200
            return False

        await stack.until("the controller to serve its metrics address", serving)
        await asyncio.to_thread(page.driver.get, url)
        await page.run("window.sameDocument = true")

        async def shown() -> bool:
            domains, hosts = await page.rows("domains"), await page.rows("hosts")
            apps, pools = await page.rows("apps"), await page.rows("pools")
            return (
                domains.get("shop", {}).get("cpus", "").endswith("/ 4")
                and sorted(hosts) == sorted(HOSTS)
                and apps.get("shop/web", {}).get("instances") == "2 / 2 / 2"
                and pools.get("shop-v110", {}).get("blocks") == "3 / 16"
            )

        await stack.until("the page to show the domain, hosts, App and pool", shown)
        domains, hosts = await page.rows("domains"), await page.rows("hosts")
        apps = await page.rows("apps")
        assert domains["shop"]["maxBorrow"] == "2 cpus"
        assert hosts["node-1"]["domain"] == "shop"
        assert hosts["node-2"]["domain"] == "shared pool"
        assert {h["lifecycle"] for h in hosts.values()} == {"Active"}
        assert apps["shop/web"]["rollout"] == "RolloutComplete"

        async def pool_as_stored() -> bool:
            got = await store.get(ObjectKey("IPPool", None, "shop-v110"))
            assert isinstance(got, IPPool)
            status = got.status
            want = f"{status.allocated_ips} / 46", f"{(status.utilisation or 0) * 100:.1f} %"
            row = (await page.rows("pools"))["shop-v110"]
            return (row["ips"], row["utilisation"].replace(".0 %", " %")) == (
                want[0],
                want[1].replace(".0 %", " %"),
            )

        await stack.until("the page to show the pool's status as etcd holds it", pool_as_stored)
        assert await page.run("return document.getElementById('conn').textContent") == "live"

        ran = await stack.ctl("scale", "app/web", "-d", "shop", "--instances", "4")
        assert ran.code == 0, ran.err

        async def desired(counts: str) -> bool:
            apps = await page.rows("apps")
            return apps.get("shop/web", {}).get("instances", "").endswith(counts)

        await until(
            "the open page to show 4 desired instances",
            lambda: desired("/ 4"),
            within=LIVE_WITHIN,
            describe=stack.describe,
        )
        await stack.until("the open page to show 4 ready instances", lambda: desired("4 / 4 / 4"))

        async def pool_used(ips: str) -> bool:  # the pool's figures follow its instances
            return (await page.rows("pools")).get("shop-v110", {}).get("ips") == ips

        await stack.until(
            "the pool to show 4 addresses used", lambda: pool_used("4 / 46"), within=10
        )
        assert await page.run("return window.sameDocument") is True, "the page was not reloaded"
        shot = os.environ.get("DCOS_DASHBOARD_SHOT")
        if shot:
            await asyncio.to_thread(page.driver.save_screenshot, shot)

        now = datetime.now(UTC)
        await store.record_event(
            Event(
                involved_object=InvolvedObject(kind="App", domain="shop", name="web"),
                type=EventKind.WARNING,
                reason="Inspected",
                message=XSS,
                first_timestamp=now,
                last_timestamp=now,
            )
        )

        async def event_shown() -> bool:
            texts = await page.run(
                "return [...document.querySelectorAll('#events td[data-col=message]')]"
                ".map((td) => td.textContent)"
            )
            return XSS in texts

        await until("the event to show as text", event_shown, within=LIVE_WITHIN)
        assert await page.run("return document.querySelectorAll('main img').length") == 0
        assert await page.run("return document.body.dataset.injected") is None
