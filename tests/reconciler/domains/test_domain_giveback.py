"""Give-back of borrowed instances, decided by give_back and carried out by the plan.

The simulated world has home hosts with a number of instance slots each and a
shared pool without limit. Each step runs as the App controller does: the
home room (free home slots after the queued launches), :func:`give_back`,
:func:`plan` with its choice, then the plan applied (kills turn Killing,
launches queue Pending instances) and one step of the world: Killing ends,
Pending instances are placed at home when a slot is free, else borrowed, and
run healthy (each late by a step with probability ``slow``). The capacity
bounds are checked after every plan, and a healthy borrowed instance is
only killed while ``N`` others stay healthy.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crds.app import App
from crds.domain import BorrowPolicy, Domain
from crds.host import Host
from reconciler.apps.instances import Instance, InstanceState, new_instance_id
from reconciler.apps.plan import KillReason, capacity_bounds, plan
from reconciler.apps.version import RolloutPhase, RolloutState, spec_version
from reconciler.domains.giveback import borrowed, give_back, shared_pool_hosts

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
S = InstanceState
SHARED = frozenset({"s1", "s2"})


def make_app(n: int, min_health: float = 1.0, max_over: float = 1.0) -> App:
    spec: dict[str, Any] = {
        "image": "registry.local/shop/web:1",
        "instances": n,
        "upgradeStrategy": {"minimumHealthCapacity": min_health, "maximumOverCapacity": max_over},
    }
    return App.model_validate({"metadata": {"name": "web", "domain": "shop"}, "spec": spec})


class World:
    def __init__(self, app: App, *, homes: dict[str, int], seed: int, slow: float) -> None:
        self.rng = random.Random(seed)
        self.app = app
        self.homes = dict(homes)  # host -> slots
        self.slow = slow
        self.now = T0
        self.instances: list[Instance] = []
        self.rollout: RolloutState | None = None
        self.moves: list[frozenset[str]] = []
        self.kills: list[KillReason] = []

    def _new(self, host: str | None, state: InstanceState) -> Instance:
        version = spec_version(self.app.spec)
        return Instance(
            instance_id=new_instance_id(domain="shop", app="web", version=version, rng=self.rng),
            domain="shop",
            app="web",
            version=version,
            state=state,
            agent_id=None if host is None else f"agent-{host}",
            hostname=host,
            launched_at=self.now,
            last_update_at=self.now,
        )

    def free_home(self) -> dict[str, int]:
        used: dict[str, int] = {}
        for i in self.instances:
            if i.is_active and i.hostname in self.homes:
                used[i.hostname] = used.get(i.hostname, 0) + 1
        return {h: slots - used.get(h, 0) for h, slots in self.homes.items()}

    def home_room(self) -> tuple[int, int]:
        """(queued instances the home hosts take, room beyond them)."""
        queued = sum(1 for i in self.instances if i.is_active and i.hostname is None)
        free = sum(self.free_home().values())
        return min(queued, free), max(0, free - queued)

    def step(self) -> None:
        n = self.app.spec.instances
        bounds = capacity_bounds(n, self.app.spec.upgrade_strategy)
        done = self.rollout is not None and self.rollout.phase is RolloutPhase.COMPLETE
        target = self.rollout.target_version if done and self.rollout else None
        queued_home, room = self.home_room()
        moving = give_back(
            self.instances,
            target=target,
            wanted=n,
            max_active=bounds.max_active,
            shared=SHARED,
            home_room=room,
            queued_home=queued_home,
        )
        self.moves.append(moving)
        before = list(self.instances)
        result = plan(
            app=self.app,
            instances=before,
            now=self.now,
            history=self.rollout,
            giving_back=moving,
        )
        self.rollout = result.rollout
        killed = {k.instance_id for k in result.kill}
        self.kills.extend(k.reason for k in result.kill)
        ended = set(result.expunge)
        self.instances = [
            i.observe(S.KILLING, now=self.now) if i.instance_id in killed else i
            for i in before
            if i.instance_id not in ended
        ]
        for launch in result.launch:
            self.instances.extend(self._new(None, S.PENDING) for _ in range(launch.count))
        # The bounds, and a healthy borrowed instance goes only while N stay healthy.
        healthy_before = sum(i.is_healthy for i in before)
        healthy_after = sum(i.is_healthy for i in self.instances)
        assert sum(i.is_active for i in self.instances) <= max(
            bounds.max_active, sum(i.is_active for i in before)
        )
        assert healthy_after >= min(n, healthy_before), result
        by_id = {i.instance_id: i for i in before}
        for kill in result.kill:
            if kill.reason is KillReason.GIVE_BACK:
                assert by_id[kill.instance_id].hostname in SHARED
        self.now += timedelta(seconds=1)
        for index, inst in enumerate(self.instances):  # one by one: each placement counts
            self.instances[index] = self._progress(inst)

    def _progress(self, inst: Instance) -> Instance:
        if self.rng.random() < self.slow:
            return inst
        if inst.state is S.KILLING:
            return inst.observe(S.KILLED, now=self.now)
        if inst.state is S.PENDING and inst.hostname is None:
            free = [h for h, left in sorted(self.free_home().items()) if left > 0]
            host = free[0] if free else self.rng.choice(sorted(SHARED))
            placed = inst.model_copy(update={"hostname": host, "agent_id": f"agent-{host}"})
            return placed.observe(S.RUNNING, now=self.now)
        return inst

    def away(self) -> int:
        return len(borrowed(self.instances, SHARED))

    def settled(self) -> bool:
        live = [i for i in self.instances if not i.is_terminal]
        complete = self.rollout is not None and self.rollout.phase is RolloutPhase.COMPLETE
        n = self.app.spec.instances
        return complete and len(live) == n and all(i.is_healthy for i in live)

    def run(self, limit: int) -> None:
        for _ in range(limit):
            settled = self.settled()
            self.step()  # a settled world that moves nothing stays settled
            if settled and not self.moves[-1] and self.settled():
                return
        raise AssertionError(f"not settled after {limit} steps: {self.instances}")


def test_borrowed_instances_come_home_one_extra_at_a_time() -> None:
    w = World(make_app(6, 1.0, 0.2), homes={"h1": 3}, seed=1, slow=0.0)
    w.run(20)
    assert w.away() == 3  # home full: 3 borrowed
    w.homes["h1"] = 6  # another App left: room for all
    w.run(40)
    assert w.away() == 0
    assert w.kills.count(KillReason.GIVE_BACK) == 3
    assert max(len(m) for m in w.moves) == 1  # maximumOverCapacity 0.2 of 6: one at a time


def test_only_as_many_come_home_as_there_is_room() -> None:
    w = World(make_app(6), homes={"h1": 2}, seed=2, slow=0.0)
    w.run(20)
    w.homes["h1"] = 4
    w.run(40)
    assert w.away() == 2


def test_without_room_above_n_nothing_moves() -> None:
    w = World(make_app(4, 0.5, 0.0), homes={"h1": 1}, seed=3, slow=0.0)
    w.run(20)
    w.homes["h1"] = 4
    for _ in range(10):
        w.step()
    assert w.away() == 3
    assert not any(w.moves)


def test_a_rollout_under_way_moves_nothing() -> None:
    w = World(make_app(3), homes={"h1": 1}, seed=4, slow=0.0)
    w.run(20)
    target = w.rollout.target_version if w.rollout else None
    assert target is not None
    away = borrowed(w.instances, SHARED)
    assert away
    other = [i.model_copy(update={"version": "other"}) for i in w.instances]
    kwargs: dict[str, Any] = {"wanted": 3, "max_active": 6, "shared": SHARED, "home_room": 5}
    assert give_back(w.instances, target=None, **kwargs) == frozenset()
    assert give_back(other, target=target, **kwargs) == frozenset()
    assert give_back(w.instances, target=target, **kwargs) == {i.instance_id for i in away}
    never = give_back(w.instances, target=target, borrow=BorrowPolicy.NEVER, **kwargs)
    assert never == frozenset()


def test_a_queued_instance_with_no_room_at_home_is_no_give_back() -> None:
    """A cancelled drain leaves a replacement queued that fits nowhere: it is an
    excess instance, and no borrowed one is held for it."""
    w = World(make_app(4), homes={"h1": 1}, seed=6, slow=0.0)
    w.run(20)
    target = w.rollout.target_version if w.rollout else None
    stray = w._new(None, S.PENDING)
    kwargs: dict[str, Any] = {"target": target, "wanted": 4, "max_active": 8, "shared": SHARED}
    assert give_back([*w.instances, stray], home_room=0, queued_home=0, **kwargs) == frozenset()
    (oldest, *_) = borrowed(w.instances, SHARED)
    moving = give_back([*w.instances, stray], home_room=0, queued_home=1, **kwargs)
    assert moving == {oldest.instance_id}


def test_a_scale_down_takes_the_borrowed_instances_first() -> None:
    w = World(make_app(6), homes={"h1": 3}, seed=5, slow=0.0)
    w.run(20)
    w.app = make_app(3)
    w.run(20)
    assert w.away() == 0


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    home=st.integers(0, 12),
    more=st.integers(0, 12),
    min_health=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
    max_over=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    slow=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 1000),
)
def test_give_back_keeps_the_bounds_and_fills_home(
    n: int, home: int, more: int, min_health: float, max_over: float, slow: float, seed: int
) -> None:
    w = World(make_app(n, min_health, max_over), homes={"h1": home}, seed=seed, slow=slow)
    w.run(200)
    assert w.away() == max(0, n - home)
    w.homes["h1"] = home + more
    w.run(400)
    surge = capacity_bounds(n, w.app.spec.upgrade_strategy).max_active > n
    expected = max(0, n - home - more) if surge else max(0, n - home)
    assert w.away() == expected


def test_shared_pool_hosts_are_those_no_domain_owns() -> None:
    shop = Domain.model_validate(
        {"metadata": {"name": "shop"}, "spec": {"hostSelector": {"matchLabels": {"tier": "shop"}}}}
    )

    def host(name: str, **spec: Any) -> Host:
        labels = spec.pop("labels", {})
        return Host.model_validate(
            {
                "metadata": {"name": name, "labels": labels},
                "spec": {"address": "10.0.0.1", "resources": {"cpus": 4, "mem": 4096}, **spec},
            }
        )

    hosts = [host("a", domain="shop"), host("b", labels={"tier": "shop"}), host("c")]
    assert shared_pool_hosts(hosts, [shop]) == {"c"}
