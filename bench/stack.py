"""A local master on a cluster file with one ``dcos-controller`` leading on it, for benches.

:func:`controller_on_master` starts both (sim agents from ``cluster``), waits
until the controller leads and yields an open store; on the way out it stops
both and logs the controller's last lines. :func:`following` runs a watch beside a
scenario and :func:`wait_for` waits on what it sees, with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.client import prefix_end
from bench.common import start_controller, stop, wait_leader
from bench.mesos_sim import start_master
from localcluster.etcd import free_port
from reconciler.apps.instances import Instance

__all__ = ["RecordsFollower", "controller_on_master", "following", "wait_for"]

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def controller_on_master(
    endpoint: str,
    prefix: str,
    tmp: Path,
    cluster: dict[str, Any],
    *,
    name: str,
    allocation_interval: float,
    log_level: str,
    master_flags: Sequence[str] = (),
) -> AsyncIterator[EtcdStore]:
    cluster_file = tmp / "cluster.yaml"
    cluster_file.write_text(yaml.safe_dump(cluster))
    with (tmp / "master.log").open("w") as sink:
        master, mesos_url = start_master(
            "--cluster",
            str(cluster_file),
            "--allocation-interval",
            str(allocation_interval),
            *master_flags,
            "--log-level",
            "WARNING",
            stderr=sink.fileno(),
        )
    metrics_addr = f"127.0.0.1:{free_port()}"
    ctl_log = tmp / "controller.log"
    flags = ("--id", name, "--log-level", log_level)
    ctl = start_controller(endpoint, prefix, mesos_url, metrics_addr, ctl_log, flags=flags)
    try:
        settings = EtcdSettings(endpoints=(endpoint,), prefix=prefix)
        async with (
            open_store(settings) as store,
            httpx.AsyncClient(base_url=f"http://{metrics_addr}", timeout=30) as metrics,
        ):
            await wait_leader(metrics, ctl)
            yield store
    finally:
        stop(ctl)
        stop(master)
        tail = ctl_log.read_text(errors="replace").splitlines()[-20:]
        if tail:
            logger.info("controller log tail:\n%s", "\n".join(tail))


@contextlib.asynccontextmanager
async def following(follow: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Run ``follow`` (a watch) as a task for the block; cancelled on the way out."""
    task = asyncio.create_task(follow, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def wait_for(
    changed: asyncio.Event, what: str, check: Callable[[], bool], within: float
) -> float:
    """Until ``check()`` holds, re-checked when ``changed`` is set (and every 50 ms);
    the ``perf_counter`` time it held. RuntimeError naming ``what`` past ``within`` s."""
    try:
        async with asyncio.timeout(within):
            while True:
                if check():
                    return time.perf_counter()
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await changed.wait()
    except TimeoutError:
        raise RuntimeError(f"{what}: not within {within:.0f} s") from None


@dataclass
class RecordsFollower:
    """Instance records under ``root``, followed revision by revision from ``revision``
    on: :meth:`_check` runs once every event of a revision is in, :meth:`_applied`
    after each event, and ``changed`` is set for :meth:`until`."""

    store: EtcdStore
    root: bytes = b""
    records: dict[bytes, Instance] = field(default_factory=dict)
    revision: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _check(self) -> None:
        """The records as of ``revision`` are complete."""

    def _applied(self, old: Instance | None, new: Instance | None) -> None:
        """One record changed (``new`` None: deleted)."""

    async def follow(self) -> None:
        async for record in self.store.client.watch(
            self.root, prefix_end(self.root), start_revision=self.revision + 1
        ):
            if record.kv.mod_revision != self.revision:
                self._check()
                self.revision = record.kv.mod_revision
            key = record.kv.key
            old = self.records.pop(key, None)
            new = None if record.deleted else Instance.from_json(record.kv.value)
            if new is not None:
                self.records[key] = new
            self._applied(old, new)
            self.changed.set()

    async def until(self, what: str, check: Callable[[], bool], within: float) -> float:
        return await wait_for(self.changed, what, check, within)

    @contextlib.asynccontextmanager
    async def followed(self) -> AsyncIterator[None]:
        """Follow from the store's current revision on, for the block."""
        self.revision = await self.store.revision()
        async with following(self.follow(), f"bench:{type(self).__module__}-watch"):
            yield
