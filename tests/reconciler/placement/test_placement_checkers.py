"""Each checker against a static agent list: feasible, or rejected with which reason."""

from __future__ import annotations

from typing import Any

import pytest

from crds.app import Constraint
from crds.domain import BorrowPolicy
from crds.host import HostLifecycle
from reconciler.placement import (
    AgentOffer,
    Amounts,
    AppKey,
    Candidate,
    DomainUsage,
    PlacedInstance,
    Snapshot,
    check_constraint,
)
from reconciler.placement.checkers import (
    AgentsChecker,
    ConstraintChecker,
    IpChecker,
    LifecycleChecker,
    PinnedHostChecker,
    QuotaChecker,
    ResourceChecker,
    RoleChecker,
)
from reconciler.placement.state import PlanState, ValueCounts

APP = AppKey("checkout", "cart")


def offer(
    host: str = "h1",
    *,
    role: str = "checkout",
    reserved: bool = True,
    cpus: float = 4,
    mem: float = 4096,
    disk: float = 1000,
    ports: tuple[tuple[int, int], ...] = ((31000, 31001),),
    **attributes: str,
) -> AgentOffer:
    amounts = Amounts(cpus=cpus, mem=mem, disk=disk, ports=ports)
    (part,) = AgentOffer.from_values(
        offer_id=f"o-{host}",
        agent_id=f"a-{host}",
        hostname=host,
        role=role,
        attributes={"rack": "r1", "dc": "sh1", **attributes},
        reserved=amounts if reserved else Amounts(),
        unreserved=Amounts() if reserved else amounts,
    )
    return part


def candidate(**fields: Any) -> Candidate:
    defaults: dict[str, Any] = {
        "app": APP,
        "instance_id": "i1",
        "version": "v1",
        "role": "checkout",
        "cpus": 1.0,
        "mem": 512.0,
    }
    return Candidate(**(defaults | fields))


def check(
    checker: Any, agent: AgentOffer, cand: Candidate, *, borrowing: bool = False, **snap: Any
) -> str | None:
    state = PlanState(Snapshot(offers=(agent,), **snap))
    state.borrowing = borrowing
    result: str | None = checker.feasible(agent, cand, state)
    return result


def counts(**per_value: int) -> ValueCounts:
    found = ValueCounts()
    for value, count in per_value.items():
        for _ in range(count):
            found.add(value)
    return found


def rule(field: str, operator: str, value: str | None = None) -> Constraint:
    return Constraint.model_validate([field, operator] + ([value] if value else []))


@pytest.mark.parametrize(
    ("constraint", "value", "placed", "feasible"),
    [
        pytest.param(rule("hostname", "UNIQUE"), "h1", {}, True, id="unique-fresh"),
        pytest.param(rule("hostname", "UNIQUE"), "h1", {"h1": 1}, False, id="unique-taken"),
        pytest.param(rule("hostname", "UNIQUE"), "h2", {"h1": 1}, True, id="unique-other"),
        pytest.param(rule("gpu", "UNIQUE"), None, {}, False, id="unique-missing"),
        pytest.param(rule("rack", "CLUSTER", "r1"), "r1", {}, True, id="cluster-match"),
        pytest.param(rule("rack", "CLUSTER", "r1"), "r2", {}, False, id="cluster-other"),
        pytest.param(rule("rack", "CLUSTER", "r1"), None, {}, False, id="cluster-missing"),
        pytest.param(rule("rack", "GROUP_BY"), "r3", {"r1": 2}, True, id="groupby-new-value"),
        pytest.param(rule("rack", "GROUP_BY"), "r1", {"r1": 1, "r2": 1}, True, id="groupby-at-min"),
        pytest.param(
            rule("rack", "GROUP_BY"), "r1", {"r1": 2, "r2": 1}, False, id="groupby-above-min"
        ),
        pytest.param(
            rule("rack", "GROUP_BY", "3"), "r1", {"r1": 1, "r2": 1}, False, id="groupby-n-unmet"
        ),
        pytest.param(
            rule("rack", "GROUP_BY", "3"), "r3", {"r1": 1, "r2": 1}, True, id="groupby-n-new"
        ),
        pytest.param(
            rule("rack", "GROUP_BY", "3"),
            "r2",
            {"r1": 1, "r2": 1, "r3": 1},
            True,
            id="groupby-n-met-at-min",
        ),
        pytest.param(rule("rack", "GROUP_BY"), None, {}, False, id="groupby-missing"),
        pytest.param(rule("dc", "LIKE", "sh[0-9]"), "sh1", {}, True, id="like-match"),
        pytest.param(rule("dc", "LIKE", "sh"), "sh1", {}, False, id="like-is-fullmatch"),
        pytest.param(rule("dc", "LIKE", "sh.*"), None, {}, False, id="like-missing"),
        pytest.param(rule("dc", "UNLIKE", "bj.*"), "sh1", {}, True, id="unlike-other"),
        pytest.param(rule("dc", "UNLIKE", "sh.*"), "sh1", {}, False, id="unlike-match"),
        pytest.param(rule("dc", "UNLIKE", "sh.*"), None, {}, True, id="unlike-missing"),
        pytest.param(rule("rack", "MAX_PER", "2"), "r1", {"r1": 1}, True, id="maxper-below"),
        pytest.param(rule("rack", "MAX_PER", "2"), "r1", {"r1": 2}, False, id="maxper-reached"),
        pytest.param(rule("rack", "MAX_PER", "2"), None, {}, False, id="maxper-missing"),
        pytest.param(rule("ssd", "IS", "true"), "true", {}, True, id="is-equal"),
        pytest.param(rule("ssd", "IS", "true"), "True", {}, False, id="is-case-sensitive"),
        pytest.param(rule("ssd", "IS", "true"), None, {}, False, id="is-missing"),
    ],
)
def test_check_constraint_follows_marathon(
    constraint: Constraint, value: str | None, placed: dict[str, int], feasible: bool
) -> None:
    assert check_constraint(constraint, value, counts(**placed)) is feasible


@pytest.mark.parametrize(
    ("constraints", "existing", "reason"),
    [
        pytest.param((), (), None, id="none"),
        pytest.param((rule("hostname", "UNIQUE"),), ("h2",), None, id="unique-elsewhere"),
        pytest.param((rule("hostname", "UNIQUE"),), ("h1",), "UNIQUE hostname", id="unique-here"),
        pytest.param((rule("rack", "CLUSTER", "r2"),), (), "CLUSTER rack r2", id="cluster"),
        pytest.param(
            (rule("dc", "LIKE", "sh.*"), rule("rack", "MAX_PER", "1")),
            ("h9",),
            "MAX_PER rack 1",
            id="second-rule-counts-existing-by-attribute",
        ),
    ],
)
def test_constraint_checker_counts_existing_instances(
    constraints: tuple[Constraint, ...], existing: tuple[str, ...], reason: str | None
) -> None:
    placed = tuple(PlacedInstance(host, {"rack": "r1"}) for host in existing)
    cand = candidate(constraints=constraints)
    assert check(ConstraintChecker(), offer(), cand, instances={APP: placed}) == reason


@pytest.mark.parametrize(
    ("agent", "fields", "borrowing", "reason"),
    [
        pytest.param(offer(), {}, False, None, id="own-reserved"),
        pytest.param(offer(role="search"), {}, False, "offer for role search", id="other-role"),
        pytest.param(
            offer(role="search", reserved=False),
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED},
            True,
            "offer for role search",
            id="other-role-unreserved",
        ),
        pytest.param(
            offer(role="*", reserved=False), {}, False, "shared pool: borrow Never", id="never"
        ),
        pytest.param(
            offer(reserved=False), {}, False, "shared pool: borrow Never", id="never-own-role"
        ),
        pytest.param(
            offer(role="*", reserved=False),
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED},
            False,
            "shared pool: own offers first",
            id="when-exhausted-first-pass",
        ),
        pytest.param(
            offer(role="*", reserved=False),
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED},
            True,
            None,
            id="when-exhausted-borrowing",
        ),
        pytest.param(
            offer(role="*", reserved=False),
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED, "max_borrow_cpus": 2.5},
            True,
            "maxBorrow cpus",
            id="max-borrow-cpus",
        ),
        pytest.param(
            offer(role="*", reserved=False),
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED, "max_borrow_mem": 1024},
            True,
            "maxBorrow mem",
            id="max-borrow-mem",
        ),
        pytest.param(
            offer(role="*", reserved=False),
            {"borrow": BorrowPolicy.WHEN_EXHAUSTED, "max_borrow_cpus": 3, "max_borrow_mem": 1536},
            True,
            None,
            id="max-borrow-exactly-reached",
        ),
    ],
)
def test_role_checker(
    agent: AgentOffer, fields: dict[str, Any], borrowing: bool, reason: str | None
) -> None:
    usage = {"checkout": DomainUsage(borrowed_cpus=2, borrowed_mem=1024)}
    cand = candidate(**fields)
    assert check(RoleChecker(), agent, cand, borrowing=borrowing, domains=usage) == reason


@pytest.mark.parametrize(
    ("lifecycles", "unknown_active", "reason"),
    [
        pytest.param({"h1": HostLifecycle.ACTIVE}, True, None, id="active"),
        pytest.param({"h1": HostLifecycle.DRAINING}, True, "host Draining", id="draining"),
        pytest.param(
            {"h1": HostLifecycle.DECOMMISSIONED}, True, "host Decommissioned", id="decommissioned"
        ),
        pytest.param({}, True, None, id="unknown-taken-as-active"),
        pytest.param({}, False, "host unknown", id="unknown-refused"),
    ],
)
def test_lifecycle_checker(
    lifecycles: dict[str, HostLifecycle], unknown_active: bool, reason: str | None
) -> None:
    result = check(
        LifecycleChecker(),
        offer(),
        candidate(),
        lifecycles=lifecycles,
        unknown_hosts_active=unknown_active,
    )
    assert result == reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"cpus": 4.0, "mem": 4096.0, "disk": 1000.0, "ports": 2}, None, id="exact"),
        pytest.param({"cpus": 4.5}, "cpus exhausted", id="cpus"),
        pytest.param({"mem": 5000.0}, "mem exhausted", id="mem"),
        pytest.param({"disk": 1001.0}, "disk exhausted", id="disk"),
        pytest.param({"ports": 3}, "ports exhausted", id="ports"),
        pytest.param({"cpus": 9.0, "mem": 9000.0}, "cpus exhausted", id="cpus-reported-first"),
    ],
)
def test_resource_checker(fields: dict[str, Any], reason: str | None) -> None:
    assert check(ResourceChecker(), offer(), candidate(**fields)) == reason


def test_resource_checker_subtracts_earlier_placements_of_the_plan() -> None:
    agent = offer(cpus=2.0)
    state = PlanState(Snapshot(offers=(agent,)))
    cand = candidate(cpus=0.7, ports=1)
    assert state.commit(agent, cand) == (31000,)
    assert state.commit(agent, cand) == (31001,)
    assert ResourceChecker().feasible(agent, candidate(cpus=0.7), state) == "cpus exhausted"
    assert ResourceChecker().feasible(agent, candidate(cpus=0.1, ports=1), state) == (
        "ports exhausted"
    )
    assert ResourceChecker().feasible(agent, candidate(cpus=0.6, ports=0), state) is None


@pytest.mark.parametrize(
    ("usage", "reason"),
    [
        pytest.param(DomainUsage(), None, id="unlimited"),
        pytest.param(DomainUsage(quota_cpus=10, cpus=9.0), None, id="cpus-exactly-reached"),
        pytest.param(DomainUsage(quota_cpus=10, cpus=9.5), "quota cpus", id="cpus"),
        pytest.param(DomainUsage(quota_mem=1000, mem=600), "quota mem", id="mem"),
        pytest.param(DomainUsage(quota_disk=10, disk=0), "quota disk", id="disk"),
        pytest.param(DomainUsage(quota_instances=5, instances=5), "quota instances", id="count"),
    ],
)
def test_quota_checker(usage: DomainUsage, reason: str | None) -> None:
    cand = candidate(disk=20.0)
    assert check(QuotaChecker(), offer(), cand, domains={"checkout": usage}) == reason


@pytest.mark.parametrize(
    ("free", "fields", "reason"),
    [
        pytest.param(None, {}, None, id="no-ipam-every-host-has-addresses"),
        pytest.param({("vlan10", "h1"): 3}, {"ip_pool": "vlan10"}, None, id="free"),
        pytest.param({}, {"ip_pool": "vlan10"}, "no free IP in vlan10", id="none-in-pool"),
        pytest.param({}, {}, "no free IP", id="none-in-host-pool"),
        pytest.param({}, {"needs_ip": False}, None, id="needs-no-ip"),
    ],
)
def test_ip_checker(
    free: dict[tuple[str | None, str], int] | None, fields: dict[str, Any], reason: str | None
) -> None:
    def free_ips(pool: str | None, hostname: str) -> int:
        assert free is not None
        return free.get((pool, hostname), 0)

    hook = None if free is None else free_ips
    assert check(IpChecker(), offer(), candidate(**fields), free_ips=hook) == reason


def test_ip_checker_counts_addresses_taken_by_the_plan() -> None:
    agent = offer()
    state = PlanState(Snapshot(offers=(agent,), free_ips=lambda pool, host: 1))
    cand = candidate(cpus=0.1)
    assert IpChecker().feasible(agent, cand, state) is None
    state.commit(agent, cand)
    assert IpChecker().feasible(agent, cand, state) == "no free IP"


def test_agents_checker_holds_apps_off_a_host_until_its_agents_are_ready() -> None:
    waiting = {"h1": ("logs", "proxy")}
    reason = check(AgentsChecker(), offer("h1"), candidate(), agents_waiting=waiting)
    assert reason == "waiting for agents on h1: logs, proxy"
    assert check(AgentsChecker(), offer("h2"), candidate(), agents_waiting=waiting) is None
    assert check(AgentsChecker(), offer("h1"), candidate()) is None  # no AgentSet selects it
    agent = candidate(app=AppKey("dcos-system", "proxy-h1"), role="dcos-system")
    assert (
        check(AgentsChecker(), offer("h1", role="dcos-system"), agent, agents_waiting=waiting)
        is None
    )


def test_unreserved_resources_of_a_domain_host_are_not_the_shared_pool() -> None:
    pooled = offer("h1", role="*", reserved=False)
    borrower = candidate(borrow=BorrowPolicy.WHEN_EXHAUSTED)
    assert check(RoleChecker(), pooled, borrower, borrowing=True) is None
    for owner in ("checkout", "search"):
        reason = check(RoleChecker(), pooled, borrower, borrowing=True, host_roles={"h1": owner})
        assert reason == "unreserved on a domain host"
    reserved = offer("h1", role="checkout")
    assert check(RoleChecker(), reserved, candidate(), host_roles={"h1": "checkout"}) is None


def test_a_pinned_app_reports_the_hosts_its_constraint_excludes_by_that_constraint() -> None:
    pin = Constraint.model_validate(["hostname", "IS", "h2"])
    pinned = candidate(constraints=(pin,), role="dcos-system", borrow=BorrowPolicy.NEVER)
    pooled = offer("h1", role="*", reserved=False)
    assert check(PinnedHostChecker(), pooled, pinned) == "IS hostname h2"
    assert check(PinnedHostChecker(), offer("h2"), pinned) is None
    unique = candidate(constraints=(Constraint.model_validate(["hostname", "UNIQUE"]),))
    assert check(PinnedHostChecker(), pooled, unique) is None  # counted: left to ConstraintChecker
    placed = place_one(pinned, [pooled, offer("h3", role="*", reserved=False)])
    assert placed == {"IS hostname h2": 2}


def place_one(cand: Candidate, offers: list[AgentOffer]) -> dict[str, int]:
    from reconciler.placement import build_default_stack, place

    result = place([cand], Snapshot(offers=tuple(offers)), stack=build_default_stack(), seed="s")
    (unplaced,) = result.unplaced
    return unplaced.metrics.filtered
