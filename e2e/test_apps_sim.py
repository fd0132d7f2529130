"""An App from YAML to running tasks: `dcosctl apply`, `dcos-controller`, a local Mesos.

The whole stack as an operator runs it: the test's etcd, a local Mesos
master with simulated agents (in this process), the installed
``dcos-controller`` process pointed at both (``--mesos``), and the installed
``dcosctl`` applying a Domain and an App. The App's status is read from etcd
until every instance runs; waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.errors import NotFound
from e2e.harness import free_port, sim_master_settings
from localcluster.mesos.server import LocalMaster

BIN = Path(sys.executable).parent
TIMEOUT = 30.0
KEY = ObjectKey("App", "shop", "web")

SPEC = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: shop
spec:
  timezone: Asia/Shanghai
  sharedPool:
    borrow: WhenExhausted
---
apiVersion: dcos/v1
kind: App
metadata:
  name: web
  domain: shop
spec:
  image: registry.example.com/shop/web:1.0
  instances: 6
  cpus: 0.5
  mem: 128Mi
  ports:
    - containerPort: 8080
      name: http
  constraints:
    - [hostname, MAX_PER, "2"]
"""


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = sim_master_settings(agents=3, running_delay=0.05)
    async with LocalMaster(settings) as started:
        yield started


async def _dcosctl(etcd: str, prefix: str, home: Path, *args: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "dcosctl"),
        "--etcd",
        etcd,
        "--prefix",
        prefix,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "DCOS_CONFIG"} | {"HOME": str(home)},
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate(stdin.encode() if stdin else None)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@contextlib.asynccontextmanager
async def controller(etcd: str, prefix: str, mesos: str, log: Path) -> AsyncIterator[None]:
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "dcos-controller"),
            "run",
            "--etcd",
            etcd,
            "--prefix",
            prefix,
            "--mesos",
            mesos,
            "--metrics-addr",
            f"127.0.0.1:{free_port()}",
            "--lease-ttl",
            "2",
            stdout=sink,
            stderr=sink,
        )
        try:
            yield
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(TIMEOUT):
                await proc.wait()


async def _app(store: EtcdStore) -> App | None:
    try:
        got = await store.get(KEY)
    except NotFound:
        return None
    return got if isinstance(got, App) else None


async def test_applied_app_runs_on_sim_agents(
    local: LocalMaster, store: EtcdStore, etcd_endpoint: str, etcd_prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "dcos-controller.log"
    async with controller(etcd_endpoint, etcd_prefix, local.url, log):
        await _dcosctl(etcd_endpoint, etcd_prefix, tmp_path, "apply", "-f", "-", stdin=SPEC)

        async def available() -> bool:
            app = await _app(store)
            if app is None:
                return False
            conditions = {c.type: (str(c.status), c.reason) for c in app.status.conditions}
            return (
                app.status.running_instances == 6
                and conditions.get("Available") == ("True", "MinimumHealthy")
                and conditions.get("Progressing") == ("True", "RolloutComplete")
            )

        try:
            async with asyncio.timeout(TIMEOUT):
                revision = await store.revision()
                if not await available():
                    async for _ in store.watch("App", domain="shop", revision=revision):
                        if await available():
                            break
        except TimeoutError:
            pytest.fail(f"App did not converge; controller log:\n{log.read_text()[-4000:]}")

        tasks = [
            rec
            for fw in local.master.state.frameworks.values()
            for rec in fw.tasks.values()
            if str(rec.state) == "TASK_RUNNING"
        ]
        assert len(tasks) == 6
        per_host: dict[str, int] = {}
        for rec in tasks:
            per_host[rec.agent_id] = per_host.get(rec.agent_id, 0) + 1
        assert max(per_host.values()) <= 2  # MAX_PER hostname 2 over 3 agents
        env = {v.name: v.value for v in tasks[0].info.command.environment.variables}  # type: ignore[union-attr]
        assert env["TZ"] == "Asia/Shanghai"
        labels = {label.key: label.value for label in tasks[0].info.labels.labels}  # type: ignore[union-attr]
        assert labels["dcos/app"] == "web" and labels["dcos/domain"] == "shop"
        names = {fw.info.name for fw in local.master.state.frameworks.values()}
        assert names == {"simple-dcos"}
        described = await _dcosctl(
            etcd_endpoint, etcd_prefix, tmp_path, "get", "apps", "-d", "shop"
        )
        assert "web" in described
