"""Moving instances off leaving (Draining, Decommissioned) hosts, simulated step by step.

The simulator is the rollout one with hosts: each plan is applied as the
controller would (kills turn instances Killing, launches add Pending
instances, ended records are expunged), then one step of the world passes:
Killing instances end, Pending ones are placed on a random host that is not
leaving and run (healthy), each late by a step with probability ``slow``.
With ``room=False`` nothing can be placed: launches stay queued (Pending, no
host), as the framework's queue shows them. The capacity bounds are checked
after every plan, and every run must end with nothing left on a leaving host.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crds.app import App
from reconciler.apps.instances import (
    Census,
    Instance,
    InstanceState,
    kill_order,
    leaving_hosts,
    new_instance_id,
)
from reconciler.apps.plan import (
    DRAIN_BLOCKED_MESSAGE,
    KillReason,
    LaunchReason,
    Plan,
    WaitReason,
    capacity_bounds,
    plan,
)
from reconciler.apps.rollout_view import Phase, progress_of
from reconciler.apps.status import compute_status
from reconciler.apps.version import RolloutPhase, RolloutState, spec_version

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
S = InstanceState
HOSTS = [f"h{i}" for i in range(6)]


def make_app(n: int, min_health: float, max_over: float, *, image: str = "cart:1") -> App:
    spec: dict[str, Any] = {
        "image": f"registry.local/shop/{image}",
        "instances": n,
        "ports": [{"containerPort": 8080}],
        "healthChecks": [{"protocol": "TCP"}],
        "upgradeStrategy": {"minimumHealthCapacity": min_health, "maximumOverCapacity": max_over},
    }
    return App.model_validate({"metadata": {"name": "cart", "domain": "shop"}, "spec": spec})


class World:
    """An app's instances on hosts, some of them leaving, moved forward one plan at a time."""

    def __init__(
        self,
        app: App,
        *,
        on: list[str],
        leaving: set[str],
        seed: int = 0,
        slow: float = 0.0,
        tick: float = 1.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.app = app
        self.leaving = leaving
        self.slow = slow
        self.room = True
        self.now = T0
        self.tick = timedelta(seconds=tick)
        self.instances: list[Instance] = []
        self.rollout: RolloutState | None = None
        self.steps = 0
        self.launched = 0
        self.plans: list[Plan] = []
        for host in on:
            self.instances.append(self._new(spec_version(app.spec), host, S.RUNNING))

    def _new(self, version: str, host: str | None, state: InstanceState) -> Instance:
        running = state is S.RUNNING
        return Instance(
            instance_id=new_instance_id(domain="shop", app="cart", version=version, rng=self.rng),
            domain="shop",
            app="cart",
            version=version,
            state=state,
            agent_id=None if host is None else f"agent-{host}",
            hostname=host,
            health_checked=True,
            healthy=True if running else None,
            launched_at=self.now,
            started_at=self.now if running else None,
            last_update_at=self.now,
        )

    def step(self) -> Plan:
        before = list(self.instances)
        result = plan(
            app=self.app,
            instances=before,
            now=self.now,
            history=self.rollout,
            leaving=frozenset(self.leaving),
        )
        self.plans.append(result)
        self.rollout = result.rollout
        killed = {k.instance_id for k in result.kill}
        ended = set(result.expunge)
        self.instances = [
            i.observe(S.KILLING, now=self.now) if i.instance_id in killed else i
            for i in before
            if i.instance_id not in ended
        ]
        for launch in result.launch:
            self.launched += launch.count
            for _ in range(launch.count):
                self.instances.append(self._new(launch.version, None, S.PENDING))
        assert_bounds_kept(result, before, self.instances, self.leaving)
        self.now += self.tick
        self.steps += 1
        self.instances = [self._progress(i) for i in self.instances]
        return result

    def _progress(self, inst: Instance) -> Instance:
        if self.rng.random() < self.slow:
            return inst
        if inst.state is S.KILLING:
            return inst.observe(S.KILLED, now=self.now)
        if inst.state is S.PENDING and inst.hostname is None:
            if not self.room:
                return inst
            host = self.rng.choice([h for h in HOSTS if h not in self.leaving])
            placed = inst.model_copy(update={"hostname": host, "agent_id": f"agent-{host}"})
            return placed.observe(S.RUNNING, now=self.now, healthy=True)
        return inst

    def fail_some(self, probability: float) -> None:
        self.instances = [
            i.observe(S.FAILED, now=self.now, message="exit 1")
            if i.state is S.RUNNING and self.rng.random() < probability
            else i
            for i in self.instances
        ]

    def on_leaving(self) -> list[Instance]:
        return [i for i in self.instances if i.is_active and i.hostname in self.leaving]

    def converged(self) -> bool:
        target = spec_version(self.app.spec)
        live = [i for i in self.instances if not i.is_terminal]
        return (
            len(live) == self.app.spec.instances
            and all(i.version == target and i.is_healthy for i in live)
            and not self.on_leaving()
            and self.rollout is not None
            and self.rollout.phase is RolloutPhase.COMPLETE
        )

    def run_until_converged(self, limit: int) -> None:
        while not self.converged():
            assert self.steps <= limit, f"no convergence after {limit} steps: {self.instances}"
            self.step()


def assert_bounds_kept(
    result: Plan, before: list[Instance], after: list[Instance], leaving: set[str]
) -> None:
    """The rollout's bounds; and a healthy instance on a leaving host is killed, with
    room above N, only while N others stay healthy."""
    bounds = result.accounting.bounds
    active_before = sum(i.is_active for i in before)
    healthy_before = sum(i.is_healthy for i in before)
    active_after = sum(i.is_active for i in after)
    healthy_after = sum(i.is_healthy for i in after)
    assert active_after <= max(bounds.max_active, active_before), result
    assert healthy_after >= min(bounds.min_healthy, healthy_before), result
    moved = [k for k in result.kill if k.reason is KillReason.HOST_LEAVING]
    by_id = {i.instance_id: i for i in before}
    for kill in moved:
        assert by_id[kill.instance_id].hostname in leaving
    others = [
        k
        for k in result.kill
        if k.reason is not KillReason.HOST_LEAVING and by_id[k.instance_id].is_healthy
    ]
    if moved and not others and bounds.max_active > bounds.instances:
        assert healthy_after >= min(bounds.instances, healthy_before), result


def world(
    n: int,
    min_health: float,
    max_over: float,
    *,
    leaving: set[str],
    seed: int = 0,
    slow: float = 0.0,
    tick: float = 1.0,
) -> World:
    """A converged app of ``n`` spread over the hosts, then ``leaving`` set."""
    rng = random.Random(seed)
    on = [rng.choice(HOSTS) for _ in range(n)]
    w = World(make_app(n, min_health, max_over), on=on, leaving=set(), seed=seed, slow=slow)
    w.tick = timedelta(seconds=tick)
    w.step()
    assert w.rollout is not None and w.rollout.phase is RolloutPhase.COMPLETE
    w.leaving = leaving
    return w


CASES = [
    pytest.param(1, 1.0, 1.0, id="n1-defaults"),
    pytest.param(1, 0.0, 0.0, id="n1-min0-max0"),
    pytest.param(1, 0.5, 0.5, id="n1-relieved"),
    pytest.param(5, 0.0, 0.0, id="min0-max0-kill-all-first"),
    pytest.param(5, 0.6, 0.0, id="min06-max0"),
    pytest.param(10, 1.0, 0.1, id="one-extra-at-a-time"),
    pytest.param(10, 0.5, 0.2, id="half-and-fifth"),
    pytest.param(10, 0.7, 0.1, id="float-rounding-07"),
    pytest.param(12, 0.8, 0.25, id="twelve"),
]


@pytest.mark.parametrize("slow", [pytest.param(0.0, id="prompt"), pytest.param(0.5, id="slow")])
@pytest.mark.parametrize(("n", "min_health", "max_over"), CASES)
def test_a_draining_host_is_emptied_within_bounds(
    n: int, min_health: float, max_over: float, slow: float
) -> None:
    w = world(n, min_health, max_over, leaving={"h0", "h1"}, seed=n, slow=slow)
    moving = len(w.on_leaving())
    w.run_until_converged(int((4 * n + 10) / (1 - slow) ** 2))
    assert w.launched == moving  # one replacement each, nothing else


def test_everything_on_one_host_moves_one_extra_at_a_time() -> None:
    w = World(make_app(4, 1.0, 0.25), on=["h0"] * 4, leaving=set())
    w.step()
    w.leaving = {"h0"}
    first = w.step()
    assert [(i.count, i.reason) for i in first.launch] == [(1, LaunchReason.MOVE)]
    assert first.kill == ()  # nothing goes before its replacement is healthy
    assert first.accounting.moving == 4
    assert first.wait is None
    second = w.step()  # the replacement runs: one moving instance goes
    assert [k.reason for k in second.kill] == [KillReason.HOST_LEAVING]
    assert second.launch == ()  # the kill has not ended: no room yet
    w.run_until_converged(30)
    assert w.launched == 4


def test_without_over_capacity_kill_first_within_the_health_bound() -> None:
    w = World(make_app(4, 0.5, 0.0), on=["h0"] * 4, leaving=set())
    w.step()
    w.leaving = {"h0"}
    first = w.step()
    assert len(first.kill) == 2 and first.launch == ()
    assert {k.reason for k in first.kill} == {KillReason.HOST_LEAVING}
    w.run_until_converged(20)


def test_an_outdated_instance_on_a_draining_host_is_replaced_once_by_the_new_version() -> None:
    w = World(make_app(6, 1.0, 0.5), on=["h0", "h0", "h0", "h1", "h2", "h3"], leaving=set())
    w.step()
    w.app = make_app(6, 1.0, 0.5, image="cart:2")  # a rollout and a drain at once
    w.leaving = {"h0"}
    w.run_until_converged(40)
    assert w.launched == 6  # each old instance replaced once, wherever it was
    target = spec_version(w.app.spec)
    assert {i.version for i in w.instances if i.is_active} == {target}


def test_a_drain_during_a_rollout_moves_new_instances_too() -> None:
    w = World(make_app(4, 1.0, 0.5), on=["h1", "h2", "h3", "h4"], leaving=set())
    w.step()
    w.app = make_app(4, 1.0, 0.5, image="cart:2")
    w.step()
    w.step()  # some new instances are placed, a few on h0 maybe
    w.leaving = {w.instances[-1].hostname or "h0"}
    w.run_until_converged(40)


def test_with_no_room_elsewhere_the_instances_stay_and_the_bounds_hold() -> None:
    w = World(make_app(4, 0.5, 0.5), on=["h0"] * 4, leaving=set())
    w.step()
    w.leaving = {"h0"}
    w.room = False
    for _ in range(10):
        result = w.step()
    assert len(w.on_leaving()) == 4  # nothing went: no replacement became healthy
    assert result.launch == () and result.kill == ()
    assert result.wait is not None and result.wait.reason is WaitReason.MOVING
    report = compute_status(
        w.app,
        w.instances,
        w.rollout,
        w.now,
        leaving=w.leaving,
        placement="5 agents filtered: host Draining (1), cpus exhausted (4)",
    )
    progressing = {c.type: c for c in report.conditions}["Progressing"]
    assert (progressing.status, progressing.reason) == ("True", "MovingOffDrainingHosts")
    assert progressing.message == (
        "moving 4 instance(s) off h0; replacements cannot be placed: "
        "5 agents filtered: host Draining (1), cpus exhausted (4)"
    )
    assert report.healthy == 4 and report.instances == 6  # 2 replacements queued
    w.room = True  # capacity appears
    w.run_until_converged(w.steps + 20)


def test_strict_bounds_block_the_move_and_say_so() -> None:
    w = World(make_app(3, 1.0, 0.0), on=["h0", "h1", "h2"], leaving=set())
    w.step()
    w.leaving = {"h0"}
    for _ in range(3):
        result = w.step()
        assert (result.launch, result.kill) == ((), ())
    assert result.wait is not None and result.wait.reason is WaitReason.CAPACITY_BLOCKED
    assert result.wait.message == DRAIN_BLOCKED_MESSAGE
    assert not result.rollout.blocked  # the rollout itself is complete
    report = compute_status(w.app, w.instances, w.rollout, w.now, leaving=w.leaving)
    progressing = {c.type: c for c in report.conditions}["Progressing"]
    assert (progressing.status, progressing.reason) == ("False", "CapacityBoundsBlocked")
    assert "moving 1 instance(s) off h0" in progressing.message


def test_scale_down_takes_instances_on_leaving_hosts_first() -> None:
    w = World(make_app(4, 1.0, 0.0), on=["h0", "h1", "h2", "h3"], leaving=set())
    w.step()
    w.app = make_app(2, 1.0, 0.0)
    w.leaving = {"h2"}
    hosts = {i.instance_id: i.hostname for i in w.instances}
    result = w.step()
    killed = {hosts[k.instance_id] for k in result.kill}
    assert "h2" in killed and len(result.kill) == 2  # it goes anyway: one fewer to scale down
    assert {k.reason for k in result.kill} == {KillReason.SCALE_DOWN, KillReason.HOST_LEAVING}
    w.run_until_converged(10)
    assert w.launched == 0


def test_deletion_kills_moving_instances_too() -> None:
    w = World(make_app(3, 1.0, 1.0), on=["h0", "h0", "h1"], leaving=set())
    w.step()
    w.leaving = {"h0"}
    meta = w.app.metadata.model_copy(update={"deletion_timestamp": T0})
    w.app = w.app.model_copy(update={"metadata": meta})
    result = w.step()
    assert len(result.kill) == 3 and result.launch == ()
    assert {k.reason for k in result.kill} == {KillReason.DELETED}


def test_census_kill_order_and_leaving_hosts() -> None:
    w = World(make_app(4, 1.0, 1.0), on=["h0", "h1", "h0", "h2"], leaving=set())
    target = spec_version(w.app.spec)
    census = Census.of(w.instances, target, {"h0"})
    assert len(census.new) == 2 and len(census.moving) == 2 and census.old == ()
    assert len(Census.of(w.instances, target).new) == 4
    order = kill_order(w.instances, target, {"h0"})
    assert [i.hostname for i in order[:2]] == ["h0", "h0"]
    assert leaving_hosts(w.instances, {"h0", "h5"}) == {"h0": 2}
    assert leaving_hosts(w.instances, ()) == {}


def test_the_status_message_counts_per_host_during_a_rollout() -> None:
    w = World(make_app(3, 1.0, 1.0), on=["h0", "h1", "h1"], leaving=set())
    w.step()
    w.app = make_app(3, 1.0, 1.0, image="cart:2")
    w.room = False
    w.step()
    report = compute_status(w.app, w.instances, w.rollout, w.now, leaving={"h0", "h1"})
    progressing = {c.type: c for c in report.conditions}["Progressing"]
    assert progressing.reason == "NewVersionRollingOut"
    assert progressing.message.endswith("moving 3 instance(s) off h0 (1), h1 (2)")


shares = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0]) | st.floats(0.0, 1.0)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(0, 12),
    min_health=shares,
    max_over=shares,
    leaving=st.sets(st.sampled_from(HOSTS), min_size=1, max_size=len(HOSTS) - 1),
    rollout=st.booleans(),
    slow=st.sampled_from([0.0, 0.3, 0.6]),
    seed=st.integers(0, 2**16),
)
def test_any_drain_terminates_within_bounds(
    n: int,
    min_health: float,
    max_over: float,
    leaving: set[str],
    rollout: bool,
    slow: float,
    seed: int,
) -> None:
    w = world(n, min_health, max_over, leaving=leaving, seed=seed, slow=slow)
    moving = len(w.on_leaving())
    if rollout:
        w.app = make_app(n, min_health, max_over, image="cart:2")
    strict = capacity_bounds(n, w.app.spec.upgrade_strategy).strict
    if strict and n > 0 and (moving or rollout):
        for _ in range(5):
            result = w.step()  # asserts the bounds
            assert result.launch == () and not result.kill
        return
    w.run_until_converged(int((4 * n + 10) / (1 - slow) ** 2))
    assert w.launched == (n if rollout else moving)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(0, 10),
    min_health=shares,
    max_over=shares,
    leaving=st.sets(st.sampled_from(HOSTS), min_size=1, max_size=len(HOSTS) - 1),
    failure=st.floats(0.0, 0.5),
    rollout=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_bounds_hold_under_random_failures_and_every_host_is_emptied(
    n: int,
    min_health: float,
    max_over: float,
    leaving: set[str],
    failure: float,
    rollout: bool,
    seed: int,
) -> None:
    """With ``rollout``, the drain starts while a new version rolls out: instances of
    the new version already placed on a leaving host move too."""
    w = world(n, min_health, max_over, leaving=set(), seed=seed, slow=0.3, tick=30.0)
    if rollout:
        w.app = make_app(n, min_health, max_over, image="cart:2")
    for step in range(15):
        if step == 3:
            w.leaving = leaving
        w.fail_some(failure)
        w.step()  # asserts the bounds
    strict = capacity_bounds(n, w.app.spec.upgrade_strategy).strict
    target = spec_version(w.app.spec)
    stuck = any(i.version != target for i in w.instances if i.is_active) or w.on_leaving()
    if strict and n > 0 and stuck:
        return
    # Once failures stop the backoff (at most 300 s, 10 ticks) runs out and all moves end.
    w.run_until_converged(w.steps + 10 * n + 40)


def test_rollout_status_is_complete_while_instances_move() -> None:
    w = World(make_app(2, 1.0, 1.0), on=["h0", "h1"], leaving=set())
    w.step()
    w.leaving = {"h0"}
    w.room = False
    w.step()
    report = compute_status(w.app, w.instances, w.rollout, w.now, leaving=w.leaving)
    app = w.app.model_copy(update={"status": report.to_app_status(w.app.status)})
    progress = progress_of(app)
    assert progress.phase is Phase.COMPLETE
    assert progress.message == "moving 1 instance(s) off h0"
