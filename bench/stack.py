"""A local master on a cluster file with one ``dcos-controller`` leading on it, for benches.

:func:`controller_on_master` starts both (sim agents from ``cluster``), waits
until the controller leads and yields an open store; on the way out it stops
both and logs the controller's last lines.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from bench.common import start_controller, stop, wait_leader
from bench.mesos_sim import start_master
from localcluster.etcd import free_port

__all__ = ["controller_on_master"]

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
