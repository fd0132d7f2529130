"""``python -m localcluster mesos``: serve a local Mesos master alone.

    python -m localcluster mesos --listen 127.0.0.1:5050 --agents 3 --containerizer sim
    python -m localcluster mesos --cluster cluster.yaml --containerizer docker
    python -m localcluster mesos --agents 2 --containerizer docker \
        --agent-docker-socket agent-001.local=/run/h1/docker.sock \
        --agent-docker-socket agent-002.local=/run/h2/docker.sock

It runs until interrupted; ``--heartbeat``, ``--allocation-interval`` and the
``--sim-*`` flags tune the emulation (see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Sequence

from localcluster.mesos.cluster import agents_from_flags, load_cluster, with_docker_sockets
from localcluster.mesos.server import ContainerizerUnavailable, LocalMaster
from localcluster.mesos.settings import MasterSettings, SimSettings

__all__ = ["main", "parser"]

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m localcluster mesos", description="A local Mesos master."
    )
    p.add_argument("--listen", default="127.0.0.1:5050", help="HOST:PORT to serve on (port 0: any)")
    p.add_argument("--agents", type=int, default=3, help="number of identical agents")
    p.add_argument("--cpus", type=float, default=8.0)
    p.add_argument("--mem", type=float, default=16384.0)
    p.add_argument("--disk", type=float, default=100000.0)
    p.add_argument("--ports", default="31000-32000")
    p.add_argument("--attributes", default="", help="e.g. rack:r1,dc:dc1")
    p.add_argument(
        "--reserve",
        action="append",
        default=[],
        metavar="ROLE=RESOURCES",
        help="static reservation on every agent, e.g. web=cpus:2;mem:1024 (repeatable)",
    )
    p.add_argument("--cluster", help="cluster YAML file (replaces the agent flags)")
    p.add_argument("--containerizer", default="sim", choices=["sim", "process", "docker"])
    p.add_argument(
        "--command-containerizer",
        choices=["sim", "process", "docker"],
        help="containerizer of command tasks (no ContainerInfo) on every agent, "
        "e.g. process while Docker tasks stay sim; default: the agent's",
    )
    p.add_argument(
        "--docker-socket",
        default="/var/run/docker.sock",
        help="Docker engine of the agents that name none",
    )
    p.add_argument(
        "--agent-docker-socket",
        action="append",
        default=[],
        metavar="HOSTNAME=SOCKET",
        help="the Docker engine of one agent, e.g. agent-002.local=/run/h2/docker.sock "
        "(repeatable; also docker_socket in a cluster file)",
    )
    p.add_argument(
        "--docker-stand-in",
        metavar="IMAGE",
        help="run tasks whose image the engine lacks as this image (a stand-in)",
    )
    p.add_argument(
        "--docker-host-root",
        metavar="DIR",
        help="root host-path volumes at DIR/<agent hostname>/ instead of /",
    )
    p.add_argument("--work-dir", help="state directory of the process containerizer")
    p.add_argument("--heartbeat", type=float, default=15.0, help="heartbeat interval (s)")
    p.add_argument("--allocation-interval", type=float, default=1.0)
    p.add_argument("--status-update-retry", type=float, default=10.0)
    p.add_argument("--unreachable-gone-timeout", type=float, default=600.0)
    p.add_argument("--sim-running-delay", type=float, default=0.05)
    p.add_argument("--sim-run-duration", type=float, default=None)
    p.add_argument("--sim-failure-rate", type=float, default=0.0)
    p.add_argument("--sim-seed", type=int, default=0)
    p.add_argument("--log-level", default="INFO")
    return p


def settings_from(args: argparse.Namespace) -> MasterSettings:
    host, _, port = args.listen.rpartition(":")
    if args.cluster:
        agents = load_cluster(args.cluster)
    else:
        reservations = []
        for item in args.reserve:
            role, sep, amounts = item.partition("=")
            if not sep or not role:
                raise ValueError(f"--reserve expects ROLE=RESOURCES, got {item!r}")
            reservations.append((role, amounts))
        agents = agents_from_flags(
            args.agents,
            cpus=args.cpus,
            mem=args.mem,
            disk=args.disk,
            ports=args.ports,
            attributes=args.attributes,
            reservations=tuple(reservations),
        )
    agents = with_docker_sockets(agents, args.agent_docker_socket)
    return MasterSettings(
        host=host or "127.0.0.1",
        port=int(port),
        agents=agents,
        containerizer=args.containerizer,
        command_containerizer=args.command_containerizer,
        docker_socket=args.docker_socket,
        docker_stand_in=args.docker_stand_in,
        docker_host_root=args.docker_host_root,
        work_dir=args.work_dir,
        heartbeat_interval=args.heartbeat,
        allocation_interval=args.allocation_interval,
        status_update_retry=args.status_update_retry,
        unreachable_gone_timeout=args.unreachable_gone_timeout,
        sim=SimSettings(
            running_delay=args.sim_running_delay,
            run_duration=args.sim_run_duration,
            failure_rate=args.sim_failure_rate,
            seed=args.sim_seed,
        ),
    )


GC_THRESHOLD = (50_000, 20, 50)
"""The collector's thresholds while serving: every call, update and offer allocates
many short-lived objects, and with the default (700, 10, 10) the collections
alone cost a fifth of the master's CPU at ten thousand tasks."""


def _tune_gc() -> None:
    """Freeze what start-up built (agents, models, the app) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def _serve(settings: MasterSettings) -> None:
    """Serve until SIGTERM or SIGINT, then stop as :class:`LocalMaster` does on the way
    out: the containerizers end what they run (a process task is its own session, so it
    would outlive the master otherwise)."""
    async with LocalMaster(settings) as local:
        _tune_gc()
        print(f"mesos master {local.master.state.master_id} on {local.url}", flush=True)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        forever = asyncio.ensure_future(local.serve_forever())
        signalled = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({forever, signalled}, return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
    await forever  # uvicorn has exited: the stop above asked it to


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_from(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(settings))
    except ContainerizerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
