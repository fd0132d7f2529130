"""A soak run: the full local stack under random faults and spec changes for N minutes.

``python -m bench soak --minutes 30`` (``make soak``; neither ``make bench``
nor CI runs it) starts the stack of the fault scenarios
(:class:`e2e.faults.stack.FaultStack`: etcd, the local master, the CMDB, two
``dcos-controller`` processes each behind a TCP proxy to etcd), applies
``--apps`` Apps and then, until the time is up, in a loop:

- changes specs at random: a new image tag for a few Apps (a rollout), or a
  new instance count from 1 to 4 (a scale, up or down, mid-rollout or not),
  each write recorded when acknowledged;
- injects a fault drawn at random from the whole list (:data:`FAULTS`):
  the leader killed (SIGKILL, restarted a few seconds later), the leader
  frozen past its lease (SIGSTOP, then SIGCONT), etcd stopped and
  restarted, the master failed over, an agent partitioned and healed, the
  CMDB down for 20 to 60 s, the leader cut off from etcd and healed,
  status updates duplicated or reordered for 10 to 30 s. The short ones
  run in line; the CMDB outage and the update faults run in the background
  while the loop goes on, one of each kind at a time.

Every minute it prints the faults injected so far, the five checks of the
history (:func:`e2e.faults.history.check`) and both controllers' resident
memory (``VmRSS`` of ``/proc/<pid>/status``). Mid-run only the properties
that must hold at every revision are judged (capacity, addresses given
twice, tasks without a record, lost acknowledged writes); convergence and
the end-state properties are shown as "converging" until the end. At the
end every fault is undone, the stack gets ``--settle`` seconds to converge,
and the whole history is checked: a table of the RSS samples and the
checks' results is printed, and the exit code is 1 when a check fails.

The capacity floor is not checked (a partition takes healthy instances away
by itself); the ceiling is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import crds.kinds  # noqa: F401  (registers the kinds)
from crds.errors import DcosError
from e2e.faults.history import Checks, Report, check
from e2e.faults.stack import IDENTITIES, FaultStack, StackSettings, app_docs

__all__ = ["FAULTS", "main"]

FAULTS = (
    "leader-kill",
    "leader-freeze",
    "etcd-restart",
    "master-failover",
    "agent-partition",
    "cmdb-outage",
    "controller-cut",
    "duplicate-updates",
    "reorder-updates",
)
CHECKS = ("convergence", "capacity", "addresses", "tasks", "acknowledged specs")
CHECKS_USED = Checks(healthy_floor=False)


def category(violation: str) -> str:
    """Which of :data:`CHECKS` a violation of :func:`check` breaks."""
    if "acknowledged" in violation or "holds another spec" in violation:
        return "acknowledged specs"
    if "IP " in violation:
        return "addresses"
    if " active > " in violation or " healthy < " in violation:
        return "capacity"
    if "task " in violation or "no task runs" in violation:
        return "tasks"
    return "convergence"


def rss_kib(pid: int | None) -> int | None:
    """``VmRSS`` of ``pid`` in KiB (None when it does not run)."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


@dataclass
class Sample:
    minute: float
    rss: dict[str, int | None]


@dataclass
class Soak:
    """One run: the stack, the random source and what was seen."""

    stack: FaultStack
    rng: random.Random
    apps: int
    faults: Counter[str] = field(default_factory=Counter)
    stalls: list[str] = field(default_factory=list)
    changes: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    specs: dict[str, tuple[str, int]] = field(default_factory=dict)
    background: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    # ------------------------------------------------------------ spec changes

    async def deploy(self) -> None:
        self.specs = {f"app-{i:03d}": ("1", 2) for i in range(self.apps)}
        await self.stack.apply(app_docs(self.apps))

    async def change(self, step: int) -> None:
        names = self.rng.sample(sorted(self.specs), self.rng.randint(1, max(1, self.apps // 8)))
        rollout = self.rng.random() < 0.5
        for name in names:
            tag, instances = self.specs[name]
            if rollout:
                tag = str(step)
            else:
                instances = self.rng.choice([n for n in (1, 2, 3, 4) if n != instances])
            self.specs[name] = (tag, instances)
        docs = []
        for name in names:
            tag, instances = self.specs[name]
            doc = app_docs(1, tag=tag, instances=instances)[0]
            doc["metadata"]["name"] = name
            docs.append(doc)
        try:
            await self.stack.apply(docs)
        except DcosError:
            self.changes["unacknowledged"] += 1  # etcd away: not acknowledged, not recorded
            return
        self.changes["rollout" if rollout else "scale"] += len(names)

    # ------------------------------------------------------------------ faults

    async def inject(self, name: str) -> None:
        stack, ttl = self.stack, self.stack.settings.lease_ttl
        if name in self.background and not self.background[name].done():
            return  # one window of each kind at a time
        self.faults[name] += 1
        if name in ("cmdb-outage", "duplicate-updates", "reorder-updates"):
            window = self.rng.uniform(20, 60) if name == "cmdb-outage" else self.rng.uniform(10, 30)
            self.background[name] = asyncio.create_task(self._window(name, window), name=name)
        elif name == "leader-kill":
            leader = await stack.wait_leader(within=30)
            await stack.kill(leader)
            await asyncio.sleep(self.rng.uniform(1, 5))
            await stack.start_replica(leader)
        elif name == "leader-freeze":
            leader = await stack.wait_leader(within=30)
            stack.freeze(leader)
            try:
                await asyncio.sleep(2 * ttl + 1)
            finally:
                stack.resume(leader)
        elif name == "controller-cut":
            leader = await stack.wait_leader(within=30)
            stack.cut(leader)
            try:
                await asyncio.sleep(2 * ttl + 1)
            finally:
                stack.heal(leader)
        elif name == "etcd-restart":
            await stack.stop_etcd()
            try:
                await asyncio.sleep(self.rng.uniform(1, 5))
            finally:
                await stack.start_etcd()
        elif name == "master-failover":
            await stack.master_fault("failover-master")
        elif name == "agent-partition":
            agents = [a.id for a in stack.master.master.state.agents.values() if a.reachable]
            agent = self.rng.choice(sorted(agents))
            await stack.master_fault("partition-agent", agent_id=agent)
            try:
                await asyncio.sleep(self.rng.uniform(3, 10))
            finally:
                await stack.master_fault("heal-agent", agent_id=agent)

    async def _window(self, name: str, seconds: float) -> None:
        stack = self.stack
        if name == "cmdb-outage":
            await stack.cmdb_down()
            try:
                await asyncio.sleep(seconds)
            finally:
                await stack.cmdb_up()
            return
        body: dict[str, Any] = {"mode": "on"}
        if name == "reorder-updates":
            body = {"batch": 8, "seed": self.rng.randrange(1 << 16), "hold": 0.3}
        await stack.master_fault(name, **body)
        try:
            await asyncio.sleep(seconds)
        finally:
            await stack.master_fault(name, mode="off")

    async def undo(self) -> None:
        """End every fault: background windows closed, every controller running."""
        for task in self.background.values():
            task.cancel()
        for task in self.background.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for identity in IDENTITIES:
            if not self.stack.replicas[identity].running:
                await self.stack.start_replica(identity)

    # ----------------------------------------------------------------- reports

    def sample(self) -> Sample:
        rss = {}
        for identity in IDENTITIES:
            replica = self.stack.replicas[identity]
            rss[identity] = rss_kib(replica.proc.pid if replica.running and replica.proc else None)
        taken = Sample((time.monotonic() - self.started) / 60, rss)
        self.samples.append(taken)
        return taken

    async def minute(self) -> None:
        taken = self.sample()
        report = check(self.stack.history, CHECKS_USED)
        broken = Counter(category(v) for v in report.violations if not v.startswith("end:"))
        pending = await self._pending()
        states = []
        for name in CHECKS:
            if name == "convergence":
                states.append(f"{name} {'converged' if not pending else 'converging'}")
            else:
                states.append(f"{name} {'FAIL ' + str(broken[name]) if broken[name] else 'ok'}")
        faults = ", ".join(f"{n} {c}" for n, c in sorted(self.faults.items())) or "none"
        rss = ", ".join(f"{i} {_mib(v)}" for i, v in taken.rss.items())
        print(
            f"[{taken.minute:5.1f} min] faults: {sum(self.faults.values())} ({faults})\n"
            f"            checks: {'; '.join(states)}\n"
            f"            RSS: {rss}; {report.revisions} revisions, {report.tasks} tasks",
            flush=True,
        )

    async def _pending(self) -> str:
        try:
            return await self.stack.not_converged()
        except DcosError as exc:
            return f"etcd: {exc}"


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


async def _guard(soak: Soak, what: str, action: Awaitable[None]) -> None:
    """Await ``action``; a wait it gives up on is a stall, reported, and the run goes on."""
    try:
        await action
    except pytest.fail.Exception as exc:
        text = str(exc) or what
        first = text.splitlines()[0]
        soak.stalls.append(f"{(time.monotonic() - soak.started) / 60:.1f} min {what}: {first}")
        print(f"  stall: {what}: {text[-2500:]}", flush=True)
    except (DcosError, TimeoutError, AssertionError) as exc:
        soak.stalls.append(f"{(time.monotonic() - soak.started) / 60:.1f} min {what}: {exc}")
        print(f"  stall: {what}: {exc}", flush=True)


async def soak(args: argparse.Namespace) -> int:
    settings = StackSettings(
        hosts=args.hosts, proxied=True, master={"unreachable_gone_timeout": 600.0}
    )
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="dcos-soak-") as tmp:
        async with FaultStack(Path(tmp), settings) as stack:
            run = Soak(stack, rng, args.apps)
            await run.deploy()
            await stack.until("the Apps to converge", stack.converged, within=120)
            print(
                f"soak: {args.apps} Apps on {args.hosts} hosts for {args.minutes:g} min, "
                f"seed {args.seed}; a fault every {args.every[0]:g}-{args.every[1]:g} s",
                flush=True,
            )
            run.started = time.monotonic()
            end = run.started + args.minutes * 60
            next_minute = run.started + 60
            step = 1
            while time.monotonic() < end:
                step += 1
                await _guard(run, "spec change", run.change(step))
                name = rng.choice(FAULTS)
                await _guard(run, name, run.inject(name))
                pause = min(rng.uniform(*args.every), max(0.0, end - time.monotonic()))
                await asyncio.sleep(pause)
                if time.monotonic() >= next_minute:
                    await run.minute()
                    next_minute += 60
            await run.undo()
            run.sample()
            final = await _final(stack, args.settle)
    return _summary(run, final)


async def _final(stack: FaultStack, settle: float) -> Report:
    try:
        return await stack.verify(within=settle, checks=CHECKS_USED)
    except pytest.fail.Exception as exc:
        print(str(exc).split("\n--- ")[0], flush=True)
        return stack.checked or check(stack.history, CHECKS_USED)


def _summary(run: Soak, report: Report) -> int:
    print("\nRSS of the controllers (MiB)")
    print(f"{'minute':>7} " + " ".join(f"{i:>8}" for i in IDENTITIES))
    for sample in run.samples:
        values = " ".join(f"{_mib(sample.rss[i]).split()[0]:>8}" for i in IDENTITIES)
        print(f"{sample.minute:7.1f} {values}")
    broken = Counter(category(v) for v in report.violations)
    print("\nchecks")
    for name in CHECKS:
        print(f"  {name:<20} {'FAIL (' + str(broken[name]) + ')' if broken[name] else 'ok'}")
    for violation in report.violations[:20]:
        print(f"    {violation}")
    print(f"\nfaults: {sum(run.faults.values())} " + str(dict(sorted(run.faults.items()))))
    print(f"spec changes: {dict(run.changes)}")
    print(f"stalls: {len(run.stalls)}")
    for stall in run.stalls[:20]:
        print(f"  {stall}")
    print(report.summary())
    return 1 if report.violations else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (30)")
    parser.add_argument("--apps", type=int, default=40, help="Apps deployed (40)")
    parser.add_argument("--hosts", type=int, default=8, help="hosts and agents (8)")
    parser.add_argument("--seed", type=int, default=1, help="the random faults' seed (1)")
    parser.add_argument(
        "--every",
        type=float,
        nargs=2,
        default=(5.0, 15.0),
        metavar=("MIN", "MAX"),
        help="seconds between two faults (5 15)",
    )
    parser.add_argument(
        "--settle", type=float, default=180.0, help="seconds to converge at the end (180)"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.minutes <= 0 or args.apps < 1 or args.hosts < 2:
        print("soak: --minutes must be > 0, --apps >= 1, --hosts >= 2", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
