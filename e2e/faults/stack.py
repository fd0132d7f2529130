"""The full local stack of the fault scenarios, and the faults it can be put through.

:class:`FaultStack` runs, for the life of an ``async with``:

- **etcd** as an :class:`~localcluster.etcd.EtcdServer` process of its own,
  on fixed ports, so :meth:`FaultStack.stop_etcd` / :meth:`start_etcd`
  stop and restart the same member with its data;
- the **local Mesos master** in this process
  (:class:`~localcluster.mesos.server.LocalMaster`, sim agents, one per
  Host), whose fault API (``POST /faults/...``, :meth:`master_fault`)
  fails the master over, loses, partitions and heals agents;
- the **CMDB**, a :class:`~localcluster.netbox.LocalNetbox` seeded with the
  Hosts as ``dcosctl up`` seeds it (:func:`localcluster.datacenter.netbox_seed`),
  restartable (:meth:`cmdb_down` / :meth:`cmdb_up`);
- **two** installed ``dcos-controller`` processes, ``ctl-a`` and ``ctl-b``,
  with ``--mesos`` and ``--cmdb``. With ``proxied=True`` each reaches etcd
  through its own :class:`~localcluster.tcpproxy.TcpProxy`, which
  :meth:`cut` partitions from etcd and :meth:`heal` joins again;
- a :class:`~e2e.faults.history.Recorder` from the moment etcd is up: every
  revision under the prefix, every spec write :meth:`apply` got
  acknowledged, the master's tasks, and every fault a method of this class
  injects.

``ctl-a`` is started first and leads; ``ctl-b`` stands by. The Domain
(``shop``, which borrows the shared hosts), the IPPool (one block per Host)
and the Hosts are applied before the controllers start, and entering waits
until every Host holds its block.

:meth:`verify` is how a scenario ends: it waits (bounded) until every App
is rolled out, no address is held by a finished instance and the master's
live tasks are the active records, then runs :func:`~e2e.faults.history.check`
over the history and fails with its summary and violations.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest
import yaml

import crds.kinds  # noqa: F401  (registers the kinds)
from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.codec import encode_spec, spec_dict
from adapters.protocols import Create, ObjectKey
from crds.app import App
from crds.errors import AlreadyExists, DcosError
from crds.host import Host
from crds.meta import Resource
from crds.registry import parse_object
from e2e.faults.history import (
    TERMINAL_TASK_STATES,
    Checks,
    History,
    Recorder,
    Report,
    TaskOp,
    check,
    not_converged,
)
from localcluster.datacenter import controller_argv, netbox_seed
from localcluster.etcd import EtcdServer, free_port
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings
from localcluster.netbox import LocalNetbox, NetboxSettings
from localcluster.netbox.db import NetboxDb
from localcluster.netbox.server import seed
from localcluster.tcpproxy import TcpProxy
from reconciler.apps.instances import Instance

__all__ = ["ELECTION", "IDENTITIES", "FaultStack", "Replica", "StackSettings", "app_docs"]

ELECTION = "controller-manager"
"""The election the installed controllers campaign in (its key is ``leader/<election>``)."""
IDENTITIES = ("ctl-a", "ctl-b")
TOKEN = "fa17000000000000000000000000000000000fa1"
"""The CMDB's API token (40 hex digits)."""
DOMAIN = "shop"
POOL = "faults"


@dataclass(frozen=True)
class StackSettings:
    """The size and timing of one stack."""

    hosts: int = 10
    cpus: float = 16.0
    mem: float = 16384.0
    lease_ttl: int = 2
    proxied: bool = False
    """Each controller reaches etcd through a :class:`TcpProxy` of its own."""
    running_delay: float = 0.05
    """Seconds a sim task takes from launch to TASK_RUNNING."""
    master: dict[str, Any] = field(default_factory=dict)
    """More :class:`MasterSettings` fields (``unreachable_gone_timeout``, ...)."""
    start_timeout: float = 30.0


def app_docs(
    count: int,
    *,
    tag: str = "1",
    instances: int = 2,
    min_health: float = 0.5,
    max_over: float = 0.5,
    prefix: str = "app",
) -> list[dict[str, Any]]:
    """``count`` small Apps (``<prefix>-000``...) of the image tag ``tag``, in :data:`DOMAIN`,
    each instance with an IP of the pool."""
    return [
        {
            "apiVersion": "dcos/v1",
            "kind": "App",
            "metadata": {"name": f"{prefix}-{i:03d}", "domain": DOMAIN},
            "spec": {
                "image": f"registry.example.com/shop/{prefix}:{tag}",
                "instances": instances,
                "cpus": 0.1,
                "mem": 16,
                "ipPool": POOL,
                "upgradeStrategy": {
                    "minimumHealthCapacity": min_health,
                    "maximumOverCapacity": max_over,
                },
            },
        }
        for i in range(count)
    ]


def _base_docs(hosts: Sequence[str], settings: StackSettings) -> list[dict[str, Any]]:
    domain = {
        "apiVersion": "dcos/v1",
        "kind": "Domain",
        "metadata": {"name": DOMAIN},
        "spec": {"timezone": "Asia/Shanghai", "sharedPool": {"borrow": "WhenExhausted"}},
    }
    pool = {
        "apiVersion": "dcos/v1",
        "kind": "IPPool",
        "metadata": {"name": POOL},
        "spec": {
            "vlan": 300,
            "cidr": "10.200.0.0/16",
            "gateway": "10.200.0.1",
            "blockSize": 25,
            "hostSelector": {"matchLabels": {"pool": POOL}},
        },
    }
    host_docs = [
        {
            "apiVersion": "dcos/v1",
            "kind": "Host",
            "metadata": {"name": name, "labels": {"pool": POOL}},
            "spec": {
                "address": f"127.0.1.{10 + n}",
                "attributes": {"rack": f"r{n % 3 + 1}", "dc": "faults"},
                "resources": {"cpus": settings.cpus, "mem": settings.mem, "disk": 100000},
            },
        }
        for n, name in enumerate(hosts)
    ]
    return [domain, pool, *host_docs]


@dataclass
class Replica:
    """One ``dcos-controller`` process (``proc`` None while it is not running)."""

    identity: str
    log: Path
    metrics_port: int
    proxy: TcpProxy | None = None
    proc: asyncio.subprocess.Process | None = None
    frozen: bool = False
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def health(self) -> dict[str, Any] | None:
        """Its ``/healthz`` body, or None when it does not answer."""
        if not self.running or self.frozen:
            return None
        async with httpx.AsyncClient() as client:
            try:
                got = await client.get(f"{self.url}/healthz", timeout=1.0)
            except httpx.HTTPError:
                return None
        body = got.json()
        return body if isinstance(body, dict) else None

    async def leading(self) -> bool:
        body = await self.health()
        return bool(body and body.get("leader"))

    async def metric(self, name: str) -> float:
        """A counter or gauge of its ``/metrics`` (0 when absent)."""
        async with httpx.AsyncClient() as client:
            got = await client.get(f"{self.url}/metrics", timeout=2.0)
        total = 0.0
        for line in got.text.splitlines():
            if line.startswith(name) and line[len(name) :][:1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of its log, HTTP request lines left out."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if " httpx: " not in line]
        return "\n".join(kept[-lines:])


class FaultStack:
    """The whole stack under one fresh etcd; see the module docstring."""

    def __init__(self, tmp: Path, settings: StackSettings | None = None) -> None:
        self.tmp = tmp
        self.settings = settings or StackSettings()
        self.prefix = f"/faults-{uuid.uuid4().hex[:8]}"
        self.hosts = [f"h{n:02d}" for n in range(1, self.settings.hosts + 1)]
        self.etcd = EtcdServer(
            tmp / "etcd", client_port=free_port(), peer_port=free_port(), stop_timeout=5.0
        )
        self.replicas = {
            name: Replica(name, tmp / f"{name}.log", free_port()) for name in IDENTITIES
        }
        self._exit = contextlib.AsyncExitStack()
        self._store: EtcdStore | None = None
        self._master: LocalMaster | None = None
        self._netbox: LocalNetbox | None = None
        self._recorder: Recorder | None = None
        self.checked: Report | None = None

    # ------------------------------------------------------------------ parts

    @property
    def store(self) -> EtcdStore:
        assert self._store is not None, "the stack is not started"
        return self._store

    @property
    def master(self) -> LocalMaster:
        assert self._master is not None, "the stack is not started"
        return self._master

    @property
    def netbox(self) -> LocalNetbox:
        assert self._netbox is not None, "the stack is not started"
        return self._netbox

    @property
    def recorder(self) -> Recorder:
        assert self._recorder is not None, "the stack is not started"
        return self._recorder

    @property
    def history(self) -> History:
        return self.recorder.history

    @property
    def etcd_endpoint(self) -> str:
        return self.etcd.endpoint

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit.aclose()

    async def _start(self) -> None:
        s = self.settings
        await asyncio.to_thread(self.etcd.start)
        self._exit.push_async_callback(asyncio.to_thread, self.etcd.close)
        self._store = await self._exit.enter_async_context(
            open_store(EtcdSettings(endpoints=(self.etcd.endpoint,), prefix=self.prefix))
        )
        self._recorder = Recorder(self.store, self._master_tasks)
        await self._recorder.start()
        self._exit.push_async_callback(self._recorder.stop)

        docs = _base_docs(self.hosts, s)
        await self.apply(docs)
        hosts = [parse_object(d) for d in docs if d["kind"] == "Host"]
        db = NetboxDb(str(self.tmp / "cmdb.sqlite"))
        seed(db, netbox_seed(h for h in hosts if isinstance(h, Host)))
        db.close()
        self._netbox = await self._exit.enter_async_context(
            LocalNetbox(NetboxSettings(db=str(self.tmp / "cmdb.sqlite"), token=TOKEN))
        )
        self._master = await self._exit.enter_async_context(LocalMaster(self._master_settings()))

        for replica in self.replicas.values():
            if s.proxied:
                replica.proxy = TcpProxy(
                    f"127.0.0.1:{self.etcd.client_port}", name=f"{replica.identity}-etcd"
                )
                await self._exit.enter_async_context(replica.proxy)
        self._exit.push_async_callback(self._stop_replicas)
        await self.start_replica("ctl-a")
        await self.until("ctl-a to lead", lambda: self._leader_is("ctl-a"))
        await self.start_replica("ctl-b")
        await self.until("every Host to hold a block of the pool", self._blocks_allocated)

    def _master_settings(self) -> MasterSettings:
        s = self.settings
        agents = tuple(
            AgentSpec(
                hostname=name,
                cpus=s.cpus,
                mem=s.mem,
                ports="31000-31099",
                attributes=f"rack:r{n % 3 + 1};dc:faults",
            )
            for n, name in enumerate(self.hosts)
        )
        extra: dict[str, Any] = {
            "heartbeat_interval": 0.5,
            "allocation_interval": 0.1,
            "allocation_batch": 0.01,
            "status_update_retry": 0.5,
            **s.master,
        }
        return MasterSettings(
            agents=agents, sim=SimSettings(running_delay=s.running_delay), **extra
        )

    def _master_tasks(self) -> Iterable[tuple[str, str, str]]:
        if self._master is None:
            return []
        state = self._master.master.state
        return [
            (rec.task_id, str(rec.state), rec.agent_id)
            for fw in state.frameworks.values()
            for rec in [*fw.tasks.values(), *fw.completed]
        ]

    async def _blocks_allocated(self) -> bool:
        held = await self.store.list_raw(f"ipam/hosts/{POOL}/")
        return len(held) == len(self.hosts)

    # ------------------------------------------------------------ controllers

    async def start_replica(self, identity: str) -> Replica:
        """Start ``identity`` (again, after a kill) and wait until its ``/healthz`` answers."""
        replica = self.replicas[identity]
        assert not replica.running, f"{identity} is running"
        etcd = replica.proxy.endpoint if replica.proxy is not None else self.etcd.endpoint
        argv = controller_argv(
            identity=identity,
            etcd=etcd,
            prefix=self.prefix,
            mesos=self.master.url,
            metrics_port=replica.metrics_port,
            lease_ttl=self.settings.lease_ttl,
            cmdb=self.netbox.url,
        )
        env = {k: v for k, v in os.environ.items() if k not in ("DCOS_CONFIG", "DCOS_CMDB")}
        env |= {"DCOS_CMDB_TOKEN": TOKEN, "HOME": str(self.tmp)}
        with replica.log.open("ab") as sink:
            replica.proc = await asyncio.create_subprocess_exec(
                *argv, stdout=sink, stderr=sink, env=env
            )
        replica.frozen = False
        replica.starts += 1

        async def answers() -> bool:
            if not replica.running:
                pytest.fail(f"{identity} exited at start:\n{replica.tail()}")
            return await replica.health() is not None

        await self.until(f"{identity} to answer /healthz", answers)
        return replica

    async def _stop_replicas(self) -> None:
        running = [r for r in self.replicas.values() if r.running]
        for replica in running:
            assert replica.proc is not None
            if replica.frozen:
                replica.proc.send_signal(signal.SIGCONT)
            replica.proc.send_signal(signal.SIGTERM)
        for replica in running:
            assert replica.proc is not None
            try:
                async with asyncio.timeout(15):
                    await replica.proc.wait()
            except TimeoutError:
                replica.proc.kill()
                await replica.proc.wait()

    async def leader(self) -> str | None:
        """The identity in the leader key now (None when no one leads or etcd is down)."""
        try:
            got = await self.store.get_raw(f"leader/{ELECTION}")
        except DcosError:
            return None
        return None if got is None else got.decode()

    async def _leader_is(self, identity: str) -> bool:
        return await self.leader() == identity and await self.replicas[identity].leading()

    async def wait_leader(self, *, other_than: str | None = None, within: float = 15.0) -> str:
        """Wait until a running replica (not ``other_than``) leads; its identity."""
        found: list[str] = []

        async def elected() -> bool:
            name = await self.leader()
            if name is None or name == other_than or name not in self.replicas:
                return False
            if not await self.replicas[name].leading():
                return False
            found.append(name)
            return True

        await self.until(f"a leader other than {other_than}", elected, within=within)
        return found[-1]

    async def kill(self, identity: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to ``identity`` (SIGKILL: and wait until it is gone)."""
        replica = self.replicas[identity]
        assert replica.proc is not None and replica.running, f"{identity} is not running"
        self.recorder.fault(f"{sig.name} {identity}")
        replica.proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            await replica.proc.wait()

    async def kill_leader(self) -> str:
        """SIGKILL whoever leads now; its identity."""
        name = await self.wait_leader()
        await self.kill(name)
        return name

    def freeze(self, identity: str) -> None:
        """SIGSTOP ``identity``: it keeps its sockets but runs nothing, its lease included."""
        replica = self.replicas[identity]
        assert replica.proc is not None and replica.running
        self.recorder.fault(f"SIGSTOP {identity}")
        replica.proc.send_signal(signal.SIGSTOP)
        replica.frozen = True

    def resume(self, identity: str) -> None:
        replica = self.replicas[identity]
        assert replica.proc is not None
        self.recorder.fault(f"SIGCONT {identity}")
        replica.proc.send_signal(signal.SIGCONT)
        replica.frozen = False

    def cut(self, identity: str, *, reset: bool = False) -> None:
        """Partition ``identity`` from etcd (it must have been started ``proxied``)."""
        proxy = self.replicas[identity].proxy
        assert proxy is not None, "start the stack with proxied=True to cut a controller off"
        self.recorder.fault(f"cut {identity} from etcd", "reset" if reset else "")
        proxy.cut(reset=reset)

    def heal(self, identity: str) -> None:
        proxy = self.replicas[identity].proxy
        assert proxy is not None
        self.recorder.fault(f"heal {identity} to etcd")
        proxy.heal()

    # ------------------------------------------------------------ etcd, CMDB, master

    async def stop_etcd(self) -> None:
        self.recorder.fault("stop etcd")
        await asyncio.to_thread(self.etcd.stop)

    async def start_etcd(self) -> None:
        self.recorder.fault("start etcd")
        await asyncio.to_thread(self.etcd.start)

    async def cmdb_down(self) -> None:
        self.recorder.fault("stop the CMDB")
        await self.netbox.stop()

    async def cmdb_up(self) -> None:
        self.recorder.fault("start the CMDB")
        await self.netbox.start()

    async def master_fault(self, name: str, **body: Any) -> dict[str, Any]:
        """``POST /faults/<name>`` on the master (see :mod:`localcluster.mesos.faults`)."""
        self.recorder.fault(f"master {name}", str(body) if body else "")
        async with httpx.AsyncClient() as client:
            got = await client.post(f"{self.master.url}/faults/{name}", json=body, timeout=5.0)
        assert got.status_code == 200, got.text
        answer = got.json()
        return answer if isinstance(answer, dict) else {}

    # ------------------------------------------------------------ client writes

    async def apply(self, docs: Iterable[dict[str, Any] | str], *, chunk: int = 50) -> int:
        """Create or update every document (dicts, or YAML streams) through the store, each
        acknowledged write recorded with its revision; the last revision."""
        objs: list[Resource] = []
        for doc in docs:
            loaded = yaml.safe_load_all(doc) if isinstance(doc, str) else [doc]
            objs.extend(parse_object(d) for d in loaded if d)
        last = 0
        for start in range(0, len(objs), chunk):
            batch = objs[start : start + chunk]
            try:
                written = await self.store.commit([Create(o) for o in batch])
            except AlreadyExists:
                written = [await self._create_or_update(o) for o in batch]
            for obj in written:
                assert obj is not None
                last = max(last, self._ack(obj))
        return last

    async def _create_or_update(self, obj: Resource) -> Resource:
        try:
            return await self.store.create(obj)
        except AlreadyExists:
            return await self.store.update(obj)

    def _ack(self, obj: Resource) -> int:
        key = self.store.keys.spec(ObjectKey.of(obj))
        rel = key[len(self.store.keys.root) + 1 :].decode()
        revision = int(obj.metadata.resource_version or 0)
        self.recorder.ack(rel, revision, encode_spec(spec_dict(obj)))
        return revision

    # ------------------------------------------------------------ waits and checks

    async def until(
        self,
        what: str,
        check: Callable[[], Awaitable[bool]],
        *,
        within: float = 30.0,
        every: float = 0.1,
    ) -> None:
        end = time.monotonic() + within
        while True:
            try:
                if await check():
                    return
            except DcosError:
                pass  # etcd may be down for a moment; the deadline still holds
            if time.monotonic() > end:
                pytest.fail(f"timed out after {within:g}s waiting for {what}\n{self.describe()}")
            await asyncio.sleep(every)

    def describe(self) -> str:
        parts = [f"--- {r.identity} log (tail) ---\n{r.tail()}" for r in self.replicas.values()]
        return "\n".join(parts)

    @property
    def record_writes(self) -> int:
        """Instance record writes recorded so far: how far a rollout has come."""
        return sum(e.key.startswith("instances/") for e in self.history.events)

    async def progressed(self, since: int, writes: int) -> bool:
        """``writes`` more instance record writes than ``since``."""
        return self.record_writes >= since + writes

    async def rollout_under_way(self, apps: int, *, writes: int, **new: Any) -> None:
        """``apps`` Apps deployed and converged, then a new image for all of them
        (``new``: more :func:`app_docs` arguments), returning once the rollout has
        made ``writes`` instance record writes."""
        await self.apply(app_docs(apps, tag="1"))
        await self.until(f"{apps} Apps to run", self.converged, within=60)
        await self.apply(app_docs(apps, tag="2", **new))
        start = self.record_writes
        await self.until("the rollout to start", lambda: self.progressed(start, writes), within=30)

    async def carried_on(self, new: str, *, writes: int) -> int:
        """The revision ``new``'s term began at, once the history shows it leading
        and it has made ``writes`` instance record writes since."""
        await self.recorder.sync()
        term, leader = self.history.terms(ELECTION)[-1]
        assert leader == new, f"{leader} leads, not {new}"
        since = self.record_writes
        await self.until(
            f"{new} to carry the rollout on", lambda: self.progressed(since, writes), within=30
        )
        return term

    async def converged(self) -> bool:
        """Every App rolled out, no address held by a finished instance, and the master's
        live tasks exactly the active records."""
        return not await self.not_converged()

    async def not_converged(self) -> str:
        """Why the stack has not converged (empty when it has)."""
        listing = await self.store.list("App")
        records: dict[tuple[str, str], list[Instance]] = {}
        for _, raw in await self.store.list_raw("instances/"):
            inst = Instance.from_json(raw)
            records.setdefault((inst.domain, inst.app), []).append(inst)
        for app in listing.items:
            assert isinstance(app, App)
            why = not_converged(
                app, records.get((app.metadata.domain or "", app.metadata.name), [])
            )
            if why:
                return f"App {app.metadata.domain}/{app.metadata.name} {why}"
        self.recorder.poll_tasks()
        active = {i.instance_id for rs in records.values() for i in rs if i.is_active}
        live = {
            task_id
            for task_id, state, _ in self._master_tasks()
            if state not in TERMINAL_TASK_STATES
        }
        if live != active:
            return (
                f"tasks without an active record {sorted(live - active)[:5]}, "
                f"active records without a task {sorted(active - live)[:5]}"
            )
        held = await self.store.list_raw(f"ipam/owners/{POOL}/")
        owners = {key.rsplit("/", 1)[-1] for key, _ in held}
        if not owners <= active:
            return f"addresses held by finished instances: {sorted(owners - active)[:5]}"
        return ""

    async def verify(self, *, within: float = 60.0, checks: Checks | None = None) -> Report:
        """Wait (``within`` seconds at most) until :meth:`converged`, then check the whole
        history; fail with the report when a property does not hold."""
        started = time.monotonic()
        try:
            await self.until("every App to converge", self.converged, within=within, every=0.25)
        except pytest.fail.Exception:
            await self.recorder.stop()
            report = check(self.history, checks)
            raise pytest.fail.Exception(
                f"not converged after {time.monotonic() - started:.1f}s\n{report.explain()}\n"
                f"{await self._pending()}\n{self.describe()}"
            ) from None
        self.history.converged_at = time.monotonic()
        await self.recorder.sync()
        await self.recorder.stop()
        report = check(self.history, checks)
        self.checked = report
        if not report.ok:
            pytest.fail(f"{report.explain()}\n{self.describe()}")
        return report

    async def _pending(self) -> str:
        try:
            return await self.not_converged()
        except DcosError as exc:
            return f"etcd: {exc}"

    def tasks_seen(self) -> list[TaskOp]:
        return list(self.history.tasks)
