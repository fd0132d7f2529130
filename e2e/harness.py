"""Pieces every end-to-end scenario uses: the installed commands, waits, and what to check.

- :func:`sim_master_settings` / :func:`docker_master_settings`: a quick local
  master (short intervals) whose agents run sim tasks or real containers;
- :func:`dcosctl` runs the installed CLI on the test's etcd and prefix;
  :func:`controller` runs the installed ``dcos-controller`` for the life of
  an ``async with`` and stops exactly that process;
- :class:`Stack` is both of them around one local master, with the reads
  and the deadline-bound waits a scenario needs (:meth:`Stack.until` fails
  with the App statuses and the controller's log);
- :func:`domain_manifest` and :func:`app_manifest` write a Domain and an
  App of long-running shell services (for busybox images);
  :func:`rolled_out` says when an App has converged on one version with
  every instance healthy;
- :class:`CapacityWatch` follows an App's instance records in etcd revision
  by revision and checks the rollout capacity bounds at every one;
- :class:`UpCluster` runs ``dcosctl up``/``down`` on its own state folder
  and ports, :func:`pid_files` and :func:`process_running` say what it left
  running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
import yaml

from adapters.etcd import EtcdStore
from adapters.etcd.client import prefix_end
from adapters.mesos.http import MesosSettings
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.mesos.tasks import MesosWireCodec
from adapters.protocols import ObjectKey
from crds.app import App
from crds.errors import NotFound
from localcluster.datacenter import controller_argv
from localcluster.etcd import free_port
from localcluster.mesos.cluster import agents_from_flags
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import MasterSettings, SimSettings
from reconciler.apps.instances import Instance
from reconciler.apps.version import spec_version
from reconciler.controllers import app as app_controller
from reconciler.framework import FrameworkSettings, MesosFramework
from reconciler.runtime import Manager, ManagerSettings

BIN = Path(sys.executable).parent
TIMEOUT = 30.0
"""Seconds any one wait of a scenario may take before it fails."""


def sim_master_settings(
    *, agents: int = 3, running_delay: float = 0.05, **extra: Any
) -> MasterSettings:
    """A local master of small sim agents with short intervals, so scenarios take seconds."""
    return MasterSettings(
        agents=agents_from_flags(agents, cpus=4, mem=4096, ports="31000-31019"),
        heartbeat_interval=0.5,
        allocation_interval=0.1,
        allocation_batch=0.01,
        status_update_retry=0.5,
        sim=SimSettings(running_delay=running_delay),
        **extra,
    )


def docker_master_settings(socket_path: Path, *, agents: int = 2, **extra: Any) -> MasterSettings:
    """The same quick master, its agents running tasks as containers on ``socket_path``'s engine."""
    return sim_master_settings(
        agents=agents, containerizer="docker", docker_socket=str(socket_path), **extra
    )


@dataclass(frozen=True)
class Ran:
    """How an installed command ended."""

    code: int
    out: str
    err: str


async def dcosctl(etcd: str, prefix: str, home: Path, *args: str, stdin: str | None = None) -> Ran:
    """Run the installed ``dcosctl`` on ``etcd`` and ``prefix``, with no user configuration."""
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
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    finally:
        if proc.returncode is None:  # timed out: stop it, and only it
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


@contextlib.asynccontextmanager
async def controller(
    *,
    etcd: str,
    prefix: str,
    mesos: str,
    log: Path,
    identity: str | None = None,
    lease_ttl: int = 2,
    metrics_port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The installed ``dcos-controller`` writing to ``log``; SIGTERM (then SIGKILL) on exit.

    ``/healthz`` and ``/metrics`` are served on ``metrics_port`` (a free port if None);
    ``extra_args`` go after the usual flags (e.g. ``--cmdb URL``) and ``env`` is added
    to this process's environment (e.g. ``DCOS_CMDB_TOKEN``)."""
    argv = controller_argv(
        identity=identity,
        etcd=etcd,
        prefix=prefix,
        mesos=mesos,
        metrics_port=free_port() if metrics_port is None else metrics_port,
        lease_ttl=lease_ttl,
    )
    environment = None if env is None else {**os.environ, **env}
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            *argv, *extra_args, stdout=sink, stderr=sink, env=environment
        )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(TIMEOUT):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise


async def until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    *,
    within: float = TIMEOUT,
    describe: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Poll ``check`` until it holds; at the deadline fail naming ``what`` (and ``describe()``)."""
    end = time.monotonic() + within
    while not await check():
        if time.monotonic() > end:
            detail = "" if describe is None else f"\n{await describe()}"
            pytest.fail(f"timed out after {within:g}s waiting for {what}{detail}")
        await asyncio.sleep(0.05)


async def get_app(store: EtcdStore, domain: str, name: str) -> App | None:
    try:
        got = await store.get(ObjectKey("App", domain, name))
    except NotFound:
        return None
    return got if isinstance(got, App) else None


def conditions(app: App) -> dict[str, tuple[str, str | None]]:
    """Condition type -> (status, reason)."""
    return {c.type: (str(c.status), c.reason) for c in app.status.conditions}


async def instance_records(store: EtcdStore, domain: str, name: str) -> list[Instance]:
    raw = await store.list_raw(f"instances/{domain}/{name}/")
    return [Instance.from_json(value) for _, value in raw]


SERVICE = ("/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
"""A service that runs until stopped and exits at once on SIGTERM (PID 1 has no default)."""


def domain_manifest(name: str = "shop") -> str:
    """A Domain that may borrow the shared pool, so it runs on any agent."""
    doc = {
        "apiVersion": "dcos/v1",
        "kind": "Domain",
        "metadata": {"name": name},
        "spec": {"timezone": "Asia/Shanghai", "sharedPool": {"borrow": "WhenExhausted"}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def app_manifest(
    name: str,
    *,
    image: str,
    instances: int,
    domain: str = "shop",
    env: dict[str, str] | None = None,
    health: str = "true",
    min_health: float = 1.0,
    max_over: float = 1.0,
    auto_rollback: bool = False,
    progress_deadline: int = 600,
) -> str:
    """An App running :data:`SERVICE`, checked by the shell command ``health`` at once, then
    every 5 s."""
    check = {
        "protocol": "COMMAND",
        "command": health,
        "delaySeconds": 0,
        "intervalSeconds": 5,
        "timeoutSeconds": 4,  # generous: a loaded machine must not make an instance unhealthy
        "gracePeriodSeconds": 10,
    }
    doc = {
        "apiVersion": "dcos/v1",
        "kind": "App",
        "metadata": {"name": name, "domain": domain},
        "spec": {
            "image": image,
            "command": list(SERVICE),
            "instances": instances,
            "cpus": 0.1,
            "mem": 32,
            "env": env or {},
            "healthChecks": [check],
            "upgradeStrategy": {
                "minimumHealthCapacity": min_health,
                "maximumOverCapacity": max_over,
                "autoRollback": auto_rollback,
            },
            "progressDeadlineSeconds": progress_deadline,
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def manifest(*docs: str) -> str:
    """YAML documents as one multi-document stream, as ``dcosctl apply -f -`` reads it."""
    return "---\n".join(docs)


async def rolled_out(store: EtcdStore, domain: str, name: str, version: str | None = None) -> bool:
    """The App's spec (or ``version``) is rolled out: every instance runs it, healthy, and the
    status says so for the current generation."""
    app = await get_app(store, domain, name)
    if app is None or app.status.observed_generation != app.metadata.generation:
        return False
    n, status = app.spec.instances, app.status
    version = version or spec_version(app.spec)
    records = [i for i in await instance_records(store, domain, name) if i.is_active]
    return (
        status.version == version
        and status.healthy_instances == n
        and status.ready_instances == n
        and status.updated_instances == n
        and conditions(app).get("Progressing") == ("True", "RolloutComplete")
        and conditions(app).get("Available") == ("True", "MinimumHealthy")
        and len(records) == n
        and all(i.is_healthy and i.version == version for i in records)
    )


@dataclass
class Stack:
    """A local master, the test's etcd and one running ``dcos-controller`` on both."""

    master: LocalMaster
    store: EtcdStore
    etcd: str
    prefix: str
    home: Path
    log: Path
    apps: list[tuple[str, str]] = field(default_factory=list)
    """(domain, name) of the Apps to describe when a wait fails."""

    async def ctl(self, *args: str, stdin: str | None = None) -> Ran:
        return await dcosctl(self.etcd, self.prefix, self.home, *args, stdin=stdin)

    async def apply(self, manifest: str) -> None:
        ran = await self.ctl("apply", "-f", "-", stdin=manifest)
        assert ran.code == 0, ran.err

    async def app(self, domain: str, name: str) -> App:
        """The App as stored now; it must exist."""
        app = await get_app(self.store, domain, name)
        assert app is not None, f"App {domain}/{name} does not exist"
        return app

    async def until(
        self, what: str, check: Callable[[], Awaitable[bool]], *, within: float = TIMEOUT
    ) -> None:
        await until(what, check, within=within, describe=self.describe)

    async def describe(self) -> str:
        """The watched Apps' statuses and the end of the controller's log."""
        lines = []
        for domain, name in self.apps:
            app = await get_app(self.store, domain, name)
            status = None if app is None else app.status.model_dump_json(by_alias=True)
            lines.append(f"App {domain}/{name}: {status}")
        text = await asyncio.to_thread(self.log.read_text, errors="replace")
        return "\n".join([*lines, "--- dcos-controller log (tail) ---", text[-4000:]])


@contextlib.asynccontextmanager
async def running_stack(
    master: LocalMaster,
    store: EtcdStore,
    etcd: str,
    prefix: str,
    tmp: Path,
    *,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Stack]:
    """A :class:`Stack` whose controller runs for the life of the ``async with``
    (``extra_args`` and ``env`` as :func:`controller` takes them)."""
    log = tmp / "dcos-controller.log"
    async with controller(
        etcd=etcd, prefix=prefix, mesos=master.url, log=log, extra_args=extra_args, env=env
    ):
        yield Stack(master, store, etcd, prefix, tmp, log)


Register = Callable[[Manager, MesosFramework, contextlib.AsyncExitStack], Awaitable[None]]
"""Registers more controllers beside the App controller (the stack closes their clients)."""


def mesos_client_settings(master: LocalMaster) -> MesosSettings:
    """Client settings for an in-process master: short timeouts and back-off."""
    return MesosSettings(
        masters=(master.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
    )


@contextlib.asynccontextmanager
async def controllers_on(
    master: LocalMaster, store: EtcdStore, register: Register | None = None
) -> AsyncIterator[MesosFramework]:
    """The App controller and its framework on ``master``, in this process, plus what
    ``register`` adds; the manager runs for the block and stops on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            MesosSchedulerClient(mesos_client_settings(master))
        )
        manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
        framework = app_controller.new_framework(
            manager,
            mesos=client,
            codec=MesosWireCodec(),
            store=store,
            settings=FrameworkSettings(offer_hold_seconds=0.3, refuse_seconds=0.1),
        )
        app_controller.register(manager, framework=framework)
        if register is not None:
            await register(manager, framework, stack)
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop), name="test:manager")
        try:
            yield framework
        finally:
            stop.set()
            async with asyncio.timeout(30):
                await task


class RecordsWatch:
    """Instance records under ``start``, checked at every etcd revision (``_check``).

    Entering lists the records at one revision, then applies the watch events
    from the next revision on; once all events of a revision are in (the first
    event of a later one arrives, or the watch is left) :meth:`_check` looks at
    them. Leaving waits (a few seconds at most) until the records followed are
    exactly those in etcd, so no revision was missed, then checks the last one.
    """

    check_on_enter = True
    """Check the records listed on entering too."""

    def __init__(self, store: EtcdStore, start: bytes) -> None:
        self.store = store
        self.start = start
        self.records: dict[bytes, bytes] = {}  # key -> value, as of ``revision``
        self.revision = 0  # the revision the records are at
        self.checked = 0  # revisions checked
        self._task: asyncio.Task[None] | None = None

    def instances(self) -> list[Instance]:
        return [Instance.from_json(value) for value in self.records.values()]

    def _check(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        kvs, self.revision, _ = await self.store.client.range(self.start, prefix_end(self.start))
        self.records = {kv.key: kv.value for kv in kvs}
        if self.check_on_enter:
            self._check()
        self._task = asyncio.create_task(self._follow(), name=f"e2e:{type(self).__name__}")
        return self

    async def _follow(self) -> None:
        watch = self.store.client.watch(
            self.start, prefix_end(self.start), start_revision=self.revision + 1
        )
        async for record in watch:
            if record.kv.mod_revision != self.revision:
                self._check()  # every event of self.revision is in
                self.revision = record.kv.mod_revision
            if record.deleted:
                self.records.pop(record.kv.key, None)
            else:
                self.records[record.kv.key] = record.kv.value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        try:
            if exc_type is None:
                await until("the watch to catch up with etcd", self._caught_up, within=5.0)
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if exc_type is None:
            self._check()

    async def _caught_up(self) -> bool:
        if self._task is not None and self._task.done():
            self._task.result()  # the watch broke: raise why
        kvs, _, _ = await self.store.client.range(self.start, prefix_end(self.start))
        return self.records == {kv.key: kv.value for kv in kvs}


class CapacityWatch(RecordsWatch):
    """Every revision of one App's instance records, each checked against the capacity bounds.

    Entered on a converged App (:class:`RecordsWatch`): at every revision at
    most ``N + floor(N * maximumOverCapacity)`` records may be active and at
    least ``ceil(N * minimumHealthCapacity)`` healthy; each breach is kept in
    :attr:`violations`. Leave it once the App has settled.
    """

    check_on_enter = False

    def __init__(
        self,
        store: EtcdStore,
        *,
        domain: str,
        name: str,
        instances: int,
        min_health: float,
        max_over: float,
    ) -> None:
        super().__init__(store, store.keys.raw(f"instances/{domain}/{name}") + b"/")
        self.max_active = instances + math.floor(instances * max_over + 1e-9)
        self.min_healthy = math.ceil(instances * min_health - 1e-9)
        self.violations: list[str] = []
        self.versions: dict[str, set[str]] = {}  # instance id -> every version it was seen with

    def _check(self) -> None:
        instances = self.instances()
        for inst in instances:
            self.versions.setdefault(inst.instance_id, set()).add(inst.version)
        active = sum(i.is_active for i in instances)
        healthy = sum(i.is_healthy for i in instances)
        if active > self.max_active:
            self.violations.append(f"revision {self.revision}: {active} active > {self.max_active}")
        if healthy < self.min_healthy:
            self.violations.append(
                f"revision {self.revision}: {healthy} healthy < {self.min_healthy}"
            )
        self.checked += 1


ROOT = Path(__file__).resolve().parent.parent
"""The repository: its ``specs/`` are the example data center ``dcosctl up`` applies."""


def free_port_pair() -> int:
    """A port on 127.0.0.1 that was free a moment ago, and the port after it too
    (``dcosctl up --port`` takes two: etcd's clients and its peers)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def process_running(pid: int) -> bool:
    """``pid`` exists with a command line and is not a zombie."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return bool(cmdline) and stat.rpartition(")")[2].split()[0] != "Z"


def pid_files(state: Path) -> dict[str, int]:
    """What ``dcosctl up`` started, as it wrote it down in ``state``: name -> pid."""
    return {path.stem: int(path.read_text()) for path in state.glob("*.pid")}


class UpCluster:
    """The installed ``dcosctl`` run in ``workdir`` as ``make up`` runs it, on its own ports.

    Entering copies ``specs/`` into ``workdir``; leaving runs ``dcosctl down``.
    ``DCOS_UP_WAIT`` (seconds ``up`` waits for the Apps) starts at ``up_wait``;
    each command may take ``timeout`` seconds.
    """

    def __init__(self, workdir: Path, *, up_wait: int, timeout: float) -> None:
        self.workdir = workdir
        self.state = workdir / ".state"
        self.port = free_port_pair()
        self.mesos_port = free_port_pair()
        self.timeout = timeout
        self.env = {**os.environ, "DCOS_ETCD": f"http://127.0.0.1:{self.port}"}
        self.env.pop("DCOS_CONFIG", None)
        self.env["HOME"] = str(workdir)
        self.env["DCOS_UP_WAIT"] = str(up_wait)

    def __enter__(self) -> Self:
        shutil.copytree(ROOT / "specs", self.workdir / "specs")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.run("down", check=False)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "dcosctl"), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"dcosctl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def up(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        ports = ("--port", str(self.port), "--mesos-port", str(self.mesos_port))
        return self.run("up", *ports, *extra, check=check)

    def pids(self) -> dict[str, int]:
        return pid_files(self.state)

    def scaled_apps(self) -> set[str]:
        """``domain/name`` of every App a ScalingPolicy of specs/ sets the count of: its
        count follows the wall clock (a sale window may be open), so tests that compare
        running with desired leave it out."""
        listing = json.loads(self.run("get", "scalingpolicies", "-A", "-o", "json").stdout)
        return {
            f"{p['metadata']['domain']}/{p['spec']['targetRef']['name']}" for p in listing["items"]
        }
