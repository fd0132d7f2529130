"""The history of a fault scenario, recorded as it happens and checked at the end, as Jepsen does.

:class:`Recorder` writes one :class:`History` while a scenario runs:

- **every etcd revision** under the scenario's prefix (events of the
  ``events/`` subtree, which live on leases, excepted): one watch from the
  revision the recorder started at; when it breaks (etcd stopped, a
  compaction, a timeout) it is opened again from the last revision seen
  plus one, so no revision is missed or seen twice. A spec write, an
  instance record, an IP allocation or release (``ipam/ips/<pool>/<ip>``),
  a leader term (``leader/<election>``): each is an :class:`EtcdEvent`;
- **every write acknowledged to a client** (:meth:`Recorder.ack`): the
  spec key, the revision the store answered and the value it wrote, as an
  :class:`Ack`; a write whose outcome is unknown is not acknowledged;
- **the master's tasks**: the local master's state is polled, and every
  task seen for the first time or in a new state is a :class:`TaskOp`;
- **the faults injected** (:meth:`Recorder.fault`), with the last revision
  seen when they were, as :class:`Fault`.

:func:`check` replays the etcd events revision by revision from the
snapshot the recorder took when it started, and returns a :class:`Report`
whose :attr:`Report.violations` list what breaks these properties:

1. **convergence**: at the end every App is Available, its status observed
   its generation, and it has ``instances`` active records, all healthy and
   at the spec's version;
2. **capacity**: at no revision did an App have more than ``instances +
   floor(instances * maximumOverCapacity)`` active records, nor, once it
   had been fully healthy, fewer than ``ceil(instances *
   minimumHealthCapacity)`` healthy ones (the bounds of
   :class:`e2e.harness.CapacityWatch`, here over every App at once);
3. **addresses**: no IP was held by two owners at once, no two active
   instance records carried one IP at one revision, and at the end every
   held IP belongs to an active instance (no leak) and every active
   instance with an IP holds it;
4. **tasks**: every task the master ran has had an instance record, and at
   the end the master's live tasks are exactly the active records;
5. **acknowledged specs**: the last acknowledged write of every spec key
   is in the history at its revision, and at the end the key holds that
   spec (or is absent, for an acknowledged delete).

:class:`Checks` turns the capacity floor off for scenarios whose fault
takes healthy instances away by itself (a lost agent); the ceiling always
holds. The checker is pure: tests build a :class:`History` by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters.etcd import EtcdStore
from adapters.etcd.client import Put, prefix_end
from adapters.etcd.codec import decode
from crds.app import App
from crds.errors import DcosError
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.version import spec_version

__all__ = [
    "Ack",
    "Checks",
    "EtcdEvent",
    "Fault",
    "History",
    "Recorder",
    "Report",
    "TaskOp",
    "check",
    "not_converged",
]

logger = logging.getLogger(__name__)

TERMINAL_TASK_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
        "TASK_ERROR",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)
"""Task states after which a task no longer runs (TASK_UNREACHABLE may come back)."""


@dataclass(frozen=True)
class EtcdEvent:
    """One key's change at one revision; ``value`` None is a delete."""

    revision: int
    key: str
    """Under the prefix, without it: ``spec/App/shop/web``, ``instances/shop/web/<id>``."""
    value: bytes | None
    create_revision: int = 0


@dataclass(frozen=True)
class Ack:
    """A spec write the store acknowledged to a client; ``value`` None is a delete."""

    revision: int
    key: str
    value: bytes | None
    at: float = 0.0


@dataclass(frozen=True)
class TaskOp:
    """The master showed ``task_id`` in ``state`` (the first time it did)."""

    at: float
    task_id: str
    state: str
    agent_id: str = ""


@dataclass(frozen=True)
class Fault:
    """A fault injected at ``at`` (monotonic seconds), after ``revision`` was seen."""

    at: float
    revision: int
    name: str
    detail: str = ""


@dataclass
class History:
    """What one scenario did, in the order it happened."""

    start_revision: int = 0
    """The revision the snapshot is at; events follow from the next one."""
    initial: dict[str, bytes] = field(default_factory=dict)
    events: list[EtcdEvent] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    tasks: list[TaskOp] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    started_at: float = 0.0
    converged_at: float | None = None
    """When the final wait saw every property hold (monotonic seconds)."""

    @property
    def last_revision(self) -> int:
        return self.events[-1].revision if self.events else self.start_revision

    def revisions(self) -> Iterator[tuple[int, list[EtcdEvent]]]:
        """The events grouped by revision, in order."""
        group: list[EtcdEvent] = []
        for event in self.events:
            if group and event.revision != group[0].revision:
                yield group[0].revision, group
                group = []
            group.append(event)
        if group:
            yield group[0].revision, group

    def final(self) -> dict[str, bytes]:
        """Every key's value after the last event."""
        state = dict(self.initial)
        for event in self.events:
            if event.value is None:
                state.pop(event.key, None)
            else:
                state[event.key] = event.value
        return state

    def terms(self, election: str) -> list[tuple[int, str]]:
        """(revision, identity) of every leader term of ``election``, in order."""
        key = f"leader/{election}"
        found: list[tuple[int, str]] = []
        if key in self.initial:
            found.append((self.start_revision, self.initial[key].decode()))
        for event in self.events:
            if (
                event.key == key
                and event.value is not None
                and event.create_revision == (event.revision)
            ):
                found.append((event.revision, event.value.decode()))
        return found


@dataclass(frozen=True)
class Checks:
    """Which properties :func:`check` holds the history to."""

    healthy_floor: bool = True
    """The capacity floor (``minimumHealthCapacity``) once an App was fully healthy."""


@dataclass
class Report:
    """What :func:`check` found, and the figures of the run."""

    violations: list[str] = field(default_factory=list)
    revisions: int = 0
    events: int = 0
    acks: int = 0
    task_ops: int = 0
    tasks: int = 0
    faults: int = 0
    takeovers: int = 0
    apps: int = 0
    max_over: int = 0
    """The most active records above ``instances`` any App had at one revision."""
    converge_seconds: float | None = None
    """From the last fault to convergence."""

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        converge = "-" if self.converge_seconds is None else f"{self.converge_seconds:.1f}s"
        return (
            f"history: {self.events} etcd events over {self.revisions} revisions, "
            f"{self.acks} acknowledged spec writes, {self.task_ops} task ops "
            f"({self.tasks} tasks), {self.faults} faults, {self.takeovers} takeovers, "
            f"{self.apps} Apps, max {self.max_over} active over instances, "
            f"converged {converge} after the last fault"
        )

    def explain(self, limit: int = 30) -> str:
        lines = [self.summary(), *self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"... and {len(self.violations) - limit} more violations")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- the checker


def _json(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


@dataclass
class _Bounds:
    instances: int
    max_active: int
    min_healthy: int


def _bounds(spec_raw: bytes) -> _Bounds:
    spec = _json(spec_raw).get("spec", {})
    n = int(spec.get("instances", 1))
    strategy = spec.get("upgradeStrategy") or {}
    min_health = float(strategy.get("minimumHealthCapacity", 1.0))
    max_over = float(strategy.get("maximumOverCapacity", 1.0))
    return _Bounds(n, n + math.floor(n * max_over + 1e-9), math.ceil(n * min_health - 1e-9))


def _instance_key(key: str) -> tuple[str, str, str] | None:
    """(domain, app, instance id) of an instance record's key."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "instances":
        return parts[1], parts[2], parts[3]
    return None


def _app_of_spec(key: str) -> tuple[str, str] | None:
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "spec" and parts[1] == "App":
        return parts[2], parts[3]
    return None


@dataclass
class _Record:
    active: bool
    healthy: bool
    ip: str | None
    unreachable: bool


def _record(raw: bytes) -> _Record:
    inst = Instance.from_json(raw)
    return _Record(
        inst.is_active,
        inst.is_healthy,
        inst.ip if inst.is_active else None,
        inst.state is InstanceState.UNREACHABLE,
    )


class _Replay:
    """The keys the checker follows, updated event by event."""

    def __init__(self, history: History, checks: Checks, report: Report) -> None:
        self.checks = checks
        self.report = report
        self.bounds: dict[tuple[str, str], _Bounds] = {}
        self.records: dict[str, _Record] = {}
        self.by_app: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.ips: dict[str, dict[str, Any]] = {}  # ipam/ips key -> record
        self.ip_users: dict[str, set[str]] = defaultdict(set)  # ip -> active record keys
        self.healthy_once: set[tuple[str, str]] = set()
        self.draining: dict[tuple[str, str], int] = {}
        """Apps above their ceiling after a scale-down, or after an unreachable
        instance came back beside its replacement: the most active they may have
        until they are under it (it only falls: nothing may start meanwhile)."""
        self.returned: set[tuple[str, str]] = set()
        """Apps one of whose unreachable instances is active again at this revision."""
        self.ever_recorded: set[str] = set()
        self.revision = history.start_revision
        for key, value in history.initial.items():
            self.apply(EtcdEvent(history.start_revision, key, value), check=False)

    def violation(self, text: str) -> None:
        self.report.violations.append(f"revision {self.revision}: {text}")

    def apply(self, event: EtcdEvent, *, check: bool = True) -> tuple[str, str] | None:
        """Take ``event`` in; the App whose capacity it may change."""
        key = event.key
        app = _app_of_spec(key)
        if app is not None:
            if event.value is None:
                self.bounds.pop(app, None)
            else:
                self.bounds[app] = _bounds(event.value)
                self._scaled(app)
            return app
        inst = _instance_key(key)
        if inst is not None:
            self._instance(key, event.value, check=check)
            return inst[0], inst[1]
        if key.startswith("ipam/ips/"):
            self._ip(key, event.value, check=check)
        return None

    def _instance(self, key: str, value: bytes | None, *, check: bool) -> None:
        domain, name, instance_id = _instance_key(key) or ("", "", "")
        old = self.records.pop(key, None)
        if old is not None and old.ip is not None:
            self.ip_users[old.ip].discard(key)
        if value is None:
            self.by_app[(domain, name)].discard(key)
            return
        self.ever_recorded.add(instance_id)
        new = _record(value)
        if old is not None and old.unreachable and new.active:
            self.returned.add((domain, name))
        self.records[key] = new
        self.by_app[(domain, name)].add(key)
        if new.ip is not None:
            users = self.ip_users[new.ip]
            users.add(key)
            if check and len(users) > 1:
                self.violation(f"IP {new.ip} is on active instances {sorted(users)}")

    def _ip(self, key: str, value: bytes | None, *, check: bool) -> None:
        old = self.ips.pop(key, None)
        if value is None:
            return
        new = _json(value)
        self.ips[key] = new
        held_before = old is not None and old.get("releasedAt") is None
        if check and held_before and new.get("releasedAt") is None:
            assert old is not None
            if old.get("owner") != new.get("owner"):
                self.violation(
                    f"IP {key.rsplit('/', 1)[-1]} given to {new.get('owner')} "
                    f"while {old.get('owner')} held it"
                )

    def _active(self, app: tuple[str, str]) -> int:
        return sum(self.records[k].active for k in self.by_app.get(app, set()))

    def _scaled(self, app: tuple[str, str]) -> None:
        """A spec change may lower the ceiling below what runs: the kills take a
        moment, so until the App is under the new ceiling the bound is what ran
        at the change, and it may only fall."""
        active = self._active(app)
        if active > self.bounds[app].max_active:
            self.draining[app] = max(active, self.draining.get(app, 0))
        else:
            self.draining.pop(app, None)

    def capacity(self, app: tuple[str, str]) -> None:
        bounds = self.bounds.get(app)
        if bounds is None:
            return
        keys = self.by_app.get(app, set())
        active = sum(self.records[k].active for k in keys)
        healthy = sum(self.records[k].healthy for k in keys)
        self.report.max_over = max(self.report.max_over, active - bounds.instances)
        name = f"{app[0]}/{app[1]}"
        if app in self.returned:
            self.returned.discard(app)
            if active > bounds.max_active:
                self.draining[app] = max(active, self.draining.get(app, 0))
        ceiling = self.draining.get(app)
        if ceiling is not None and active <= bounds.max_active:
            del self.draining[app]
        elif ceiling is not None:
            if active > ceiling:
                self.violation(f"App {name}: {active} active > {ceiling} while above its ceiling")
            self.draining[app] = min(ceiling, active)
        elif active > bounds.max_active:
            self.violation(f"App {name}: {active} active > {bounds.max_active}")
        if healthy >= bounds.instances:
            self.healthy_once.add(app)
        elif (
            self.checks.healthy_floor and app in self.healthy_once and healthy < bounds.min_healthy
        ):
            self.violation(f"App {name}: {healthy} healthy < {bounds.min_healthy}")


def check(history: History, checks: Checks | None = None) -> Report:
    """Every property of the module docstring over ``history``; see :class:`Report`."""
    checks = checks or Checks()
    report = Report(
        acks=len(history.acks),
        task_ops=len(history.tasks),
        tasks=len({op.task_id for op in history.tasks}),
        faults=len(history.faults),
        events=len(history.events),
    )
    terms = history.terms("controller-manager")
    report.takeovers = max(0, len(terms) - 1)
    replay = _Replay(history, checks, report)
    for revision, events in history.revisions():
        replay.revision = revision
        touched = {app for event in events if (app := replay.apply(event)) is not None}
        for app in sorted(touched):
            replay.capacity(app)
        report.revisions += 1
    final = history.final()
    _check_converged(final, report)
    _check_addresses(replay, report)
    _check_tasks(history, replay, report)
    _check_acks(history, final, report)
    if history.converged_at is not None:
        last = max((f.at for f in history.faults), default=history.started_at)
        report.converge_seconds = history.converged_at - last
    return report


def _check_converged(final: dict[str, bytes], report: Report) -> None:
    for key, raw in sorted(final.items()):
        app_key = _app_of_spec(key)
        if app_key is None:
            continue
        report.apps += 1
        status = final.get("status/" + key.removeprefix("spec/"))
        try:
            app = decode(_json(raw), status, 0)
        except (DcosError, ValueError) as exc:
            report.violations.append(f"end: App {key} does not decode: {exc}")
            continue
        assert isinstance(app, App)
        prefix = f"instances/{app_key[0]}/{app_key[1]}/"
        records = [Instance.from_json(v) for k, v in final.items() if k.startswith(prefix)]
        why = not_converged(app, records)
        if why:
            report.violations.append(f"end: App {app_key[0]}/{app_key[1]} {why}")


def not_converged(app: App, records: Iterable[Instance]) -> str:
    """Why ``app`` with its instance ``records`` has not converged; empty when it has."""
    n, status = app.spec.instances, app.status
    version = spec_version(app.spec)
    active = [i for i in records if i.is_active]
    available = next((c for c in status.conditions if c.type == "Available"), None)
    if status.observed_generation != app.metadata.generation:
        seen, want = status.observed_generation, app.metadata.generation
        return f"status observed generation {seen}, not {want}"
    if available is None or str(available.status) != "True":
        return "is not Available"
    if status.version != version or status.healthy_instances != n:
        return (
            f"status says {status.healthy_instances}/{n} healthy at {status.version}, not {version}"
        )
    if len(active) != n or not all(i.is_healthy and i.version == version for i in active):
        states = sorted(f"{i.instance_id}:{i.state}:{i.version[:8]}" for i in active)
        return f"has {len(active)} active records, not {n} healthy at {version[:8]}: {states}"
    return ""


def _check_addresses(replay: _Replay, report: Report) -> None:
    held = {
        key.rsplit("/", 1)[-1]: str(rec.get("owner"))
        for key, rec in replay.ips.items()
        if rec.get("releasedAt") is None
    }
    active_ids = {key.rsplit("/", 1)[-1]: rec for key, rec in replay.records.items() if rec.active}
    for ip, owner in sorted(held.items()):
        if owner not in active_ids and owner.count(".") >= 3:  # an instance id owns it
            report.violations.append(
                f"end: IP {ip} leaked: held by {owner}, not an active instance"
            )
    for instance_id, rec in sorted(active_ids.items()):
        if rec.ip is not None and held.get(rec.ip) != instance_id:
            report.violations.append(
                f"end: instance {instance_id} runs with IP {rec.ip}, held by {held.get(rec.ip)}"
            )


def _check_tasks(history: History, replay: _Replay, report: Report) -> None:
    last: dict[str, str] = {}
    for op in history.tasks:
        last[op.task_id] = op.state
    for task_id in sorted(last):
        if task_id not in replay.ever_recorded:
            report.violations.append(f"task {task_id} ran with no instance record in etcd")
    live = {task_id for task_id, state in last.items() if state not in TERMINAL_TASK_STATES}
    active = {key.rsplit("/", 1)[-1] for key, rec in replay.records.items() if rec.active}
    for task_id in sorted(live - active):
        report.violations.append(f"end: task {task_id} runs but etcd has no active record of it")
    for instance_id in sorted(active - live):
        report.violations.append(f"end: instance {instance_id} is active in etcd, no task runs it")


def _spec_part(raw: bytes | None) -> Any:
    return None if raw is None else _json(raw).get("spec")


def _check_acks(history: History, final: dict[str, bytes], report: Report) -> None:
    written = {(e.revision, e.key): e.value for e in history.events}
    latest: dict[str, Ack] = {}
    for ack in history.acks:
        if ack.key not in latest or ack.revision >= latest[ack.key].revision:
            latest[ack.key] = ack
        if ack.revision > history.start_revision and (ack.revision, ack.key) not in written:
            # an update that changed nothing is acknowledged at the key's earlier revision
            earlier = [e for e in history.events if e.key == ack.key and e.revision <= ack.revision]
            if not earlier or _spec_part(earlier[-1].value) != _spec_part(ack.value):
                report.violations.append(
                    f"acknowledged write of {ack.key} at revision {ack.revision} is not in etcd"
                )
    for key, ack in sorted(latest.items()):
        now = final.get(key)
        if ack.value is None:
            if now is not None:
                report.violations.append(f"end: {key} exists, its acknowledged delete was lost")
        elif now is None:
            report.violations.append(f"end: {key} is gone: acknowledged at {ack.revision}, lost")
        elif _spec_part(now) != _spec_part(ack.value):
            report.violations.append(
                f"end: {key} holds another spec than the one acknowledged at {ack.revision}"
            )


# ---------------------------------------------------------------------------- the recorder

MARK = "history/mark"
"""The key :meth:`Recorder.sync` writes to know the watch has caught up."""

TaskSource = Callable[[], Iterable[tuple[str, str, str]]]
"""(task id, state, agent id) of every task the master knows now, finished ones too."""


class Recorder:
    """Records a :class:`History` from ``store``'s prefix and ``tasks`` until :meth:`stop`."""

    def __init__(
        self, store: EtcdStore, tasks: TaskSource | None = None, *, poll: float = 0.1
    ) -> None:
        self.store = store
        self.history = History()
        self._tasks = tasks
        self._poll = poll
        self._root = f"{store.keys.root}/".encode()
        self._seen: dict[str, str] = {}
        self._watch_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self.reconnects = 0

    def _rel(self, key: bytes) -> str:
        return key[len(self._root) :].decode()

    async def start(self) -> None:
        client = self.store.client
        kvs, revision, _ = await client.range(self._root, prefix_end(self._root))
        self.history.start_revision = revision
        self.history.started_at = time.monotonic()
        self.history.initial = {
            self._rel(kv.key): kv.value for kv in kvs if not self._ignored(kv.key)
        }
        self._watch_task = asyncio.create_task(self._follow(), name="history:etcd")
        if self._tasks is not None:
            self._poll_task = asyncio.create_task(self._poll_tasks(), name="history:tasks")

    def _ignored(self, key: bytes) -> bool:
        return key.startswith(self._root + b"events/")

    async def _follow(self) -> None:
        while True:
            start = self.history.last_revision + 1
            try:
                async for record in self.store.client.watch(
                    self._root, prefix_end(self._root), start_revision=start
                ):
                    if self._ignored(record.kv.key):
                        continue
                    value = None if record.deleted else record.kv.value
                    self.history.events.append(
                        EtcdEvent(
                            record.kv.mod_revision,
                            self._rel(record.kv.key),
                            value,
                            record.kv.create_revision,
                        )
                    )
            except DcosError as exc:
                logger.info("history: the watch broke (%s); again from %d", exc, start)
            self.reconnects += 1
            await asyncio.sleep(0.1)

    async def _poll_tasks(self) -> None:
        assert self._tasks is not None
        while True:
            self.poll_tasks()
            await asyncio.sleep(self._poll)

    def poll_tasks(self) -> None:
        """Record the tasks that are new or changed state since the last poll."""
        if self._tasks is None:
            return
        now = time.monotonic()
        for task_id, state, agent_id in self._tasks():
            if self._seen.get(task_id) != state:
                self._seen[task_id] = state
                self.history.tasks.append(TaskOp(now, task_id, state, agent_id))

    def ack(self, key: str, revision: int, value: bytes | None) -> None:
        """A spec write of ``key`` (under the prefix) acknowledged at ``revision``."""
        self.history.acks.append(Ack(revision, key, value, time.monotonic()))

    def fault(self, name: str, detail: str = "") -> None:
        logger.info("fault: %s %s", name, detail)
        self.history.faults.append(
            Fault(time.monotonic(), self.history.last_revision, name, detail)
        )

    async def sync(self, within: float = 10.0) -> None:
        """Return once the watch has seen every revision up to now: a mark key is written
        and waited for (TimeoutError after ``within`` seconds)."""
        result = await self.store.client.txn(
            [], [Put(self.store.keys.raw(MARK), str(time.time()).encode())]
        )
        async with asyncio.timeout(within):
            while self.history.last_revision < result.revision:
                if self._watch_task is not None and self._watch_task.done():
                    self._watch_task.result()
                await asyncio.sleep(0.02)

    async def stop(self) -> History:
        if self._watch_task is None:
            return self.history
        self.poll_tasks()
        for task in (self._watch_task, self._poll_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watch_task = self._poll_task = None
        return self.history
