"""The dashboard on the example data center: first paint and change-to-page latency.

``dcosctl up`` (its own state folder and ports) runs ``specs/``; a headless
Chromium (Debian's, through chromedriver) opens the leading controller's
page. Figures:

- the page's first snapshot drawn, from navigation;
- a spec change (an App's ``instances``, written to etcd) to the open page
  showing it, over :data:`CHANGES` changes: the informer, the feed's
  coalescing (``interval`` 0.25 s: a lone change is sent at once), the
  event stream and the redraw; the page is read every few milliseconds,
  so the figure includes up to one read.

With ``DCOS_DASHBOARD_SHOT=PATH`` the page is saved there as PNG first, once
the Apps have converged and the pools' figures are in (the IPPool controller
refreshes them every 30 s); ``docs/dashboard.png`` is made this way.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from adapters.etcd import EtcdSettings, open_store
from adapters.protocols import ObjectKey
from bench.common import DCOSCTL, Figure
from crds.app import App
from e2e.browser import headless_chromium, missing
from localcluster.etcd import free_port

ROOT = Path(__file__).resolve().parent.parent
CHANGES = 20
APP = ("checkout", "payment")
WAIT = 60.0


def _until(what: str, check: Any, within: float = WAIT) -> None:
    end = time.monotonic() + within
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out after {within:g}s waiting for {what}")
        time.sleep(0.003)


_DESIRED = """
const tr = document.querySelector('#apps tr[data-key="' + arguments[0] + '"]');
return tr ? tr.querySelector('td[data-col=instances]').textContent : null;
"""
_CONVERGED = """
const rows = [...document.querySelectorAll('#apps tbody tr[data-key]')];
return rows.length > 0 && rows.every((tr) => {  // the agent Apps are hidden
  const [ready, updated, desired] = tr.querySelector('td[data-col=instances]').textContent
    .split(' / ');
  return ready === desired && updated === desired;
});
"""

_POOLS_USED = "return !document.getElementById('sum-ips').textContent.startsWith('0 /')"


async def _set_instances(endpoint: str, instances: int) -> None:
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix="/dcos")) as store:
        app = await store.get(ObjectKey("App", APP[0], APP[1]))
        assert isinstance(app, App)
        spec = app.spec.model_copy(update={"instances": instances})
        await store.update(app.model_copy(update={"spec": spec}))


def _measure(driver: Any, url: str, endpoint: str, shot: str | None) -> tuple[float, list[float]]:
    started = time.perf_counter()
    driver.get(url)
    _until(
        "the first snapshot", lambda: driver.execute_script("return document.body.dataset.updates")
    )
    first = time.perf_counter() - started
    if shot:
        _until("every App to converge", lambda: driver.execute_script(_CONVERGED))
        # the IPPool controller refreshes the pools' figures every 30 s
        _until("the pools' figures", lambda: driver.execute_script(_POOLS_USED))
        driver.save_screenshot(shot)
    key = f"{APP[0]}/{APP[1]}"
    _until("the App on the page", lambda: driver.execute_script(_DESIRED, key))
    base = int(driver.execute_script(_DESIRED, key).split(" / ")[2])
    latencies = []
    for i in range(CHANGES):
        want = base + 1 if i % 2 == 0 else base
        asyncio.run(_set_instances(endpoint, want))
        after_write = time.perf_counter()
        _until(
            "the page to show the change",
            lambda want=want: (driver.execute_script(_DESIRED, key) or "").endswith(f"/ {want}"),
            within=10.0,
        )
        latencies.append(time.perf_counter() - after_write)
    return first, latencies


def run() -> list[Figure]:
    absent = missing()
    if absent:
        raise RuntimeError(f"{', '.join(absent)} missing: run `make browser`")
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "specs", work / "specs")
        port, mesos_port = free_port(), free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DCOS_ETCD": endpoint, "HOME": tmp, "DCOS_UP_WAIT": str(int(WAIT))}
        env.pop("DCOS_CONFIG", None)

        def dcosctl(*args: str) -> str:
            proc = subprocess.run(
                [DCOSCTL, *args], cwd=work, env=env, capture_output=True, text=True, timeout=240
            )
            if proc.returncode != 0:
                raise RuntimeError(f"dcosctl {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")
            return proc.stdout + proc.stderr

        try:
            out = dcosctl("up", "--port", str(port), "--mesos-port", str(mesos_port))
            found = re.search(
                r"controller-a \(pid \d+\), dashboard and metrics on http://127\.0\.0\.1:(\d+)/",
                out,
            )
            if found is None:
                raise RuntimeError(f"no metrics port for controller-a in:\n{out}")
            url = f"http://127.0.0.1:{found.group(1)}/"
            driver = headless_chromium(
                work / "chromium", width=1440, height=1600, extra=("--hide-scrollbars",)
            )
            try:
                shot = os.environ.get("DCOS_DASHBOARD_SHOT")
                first, latencies = _measure(driver, url, endpoint, shot)
            finally:
                driver.quit()
        finally:
            subprocess.run([DCOSCTL, "down"], cwd=work, env=env, capture_output=True, timeout=120)
    latencies.sort()
    return [
        Figure("dashboard: first snapshot drawn, from navigation", first * 1000, "ms"),
        Figure(
            f"dashboard: etcd change to the open page, p50 of {CHANGES}",
            statistics.median(latencies) * 1000,
            "ms",
        ),
        Figure(
            f"dashboard: etcd change to the open page, max of {CHANGES}", latencies[-1] * 1000, "ms"
        ),
    ]
