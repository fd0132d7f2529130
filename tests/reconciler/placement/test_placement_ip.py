"""Addresses in placement: which pool, how many free, and the reasons counted."""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.placement import (
    AgentOffer,
    AppKey,
    Candidate,
    Snapshot,
    build_default_stack,
    place,
)
from reconciler.placement.checkers import IpChecker
from reconciler.placement.state import PlanState

POOLS = {"h1": "vlan10", "h2": "vlan10", "h3": None}  # the host's own pool (first by name)
SELECTS = {("vlan10", "h1"), ("vlan10", "h2"), ("vlan20", "h1")}


def offer(hostname: str) -> AgentOffer:
    return AgentOffer(
        offer_id=f"o-{hostname}",
        agent_id=f"a-{hostname}",
        hostname=hostname,
        role="shop",
        reserved=True,
        attributes={"hostname": hostname},
        cpus=8,
        mem=8192,
        disk=1000,
    )


def candidate(n: int = 0, **fields: Any) -> Candidate:
    values: dict[str, Any] = {
        "app": AppKey("shop", "web"),
        "instance_id": f"shop.web.v1.{n:08x}",
        "version": "v1",
        "role": "shop",
        "cpus": 0.1,
        "mem": 16,
        **fields,
    }
    return Candidate(**values)


def snapshot(free: dict[tuple[str, str], int], *hosts: str) -> Snapshot:
    def free_ips(pool: str | None, hostname: str) -> int | None:
        if pool is None or (pool, hostname) not in SELECTS:
            return None
        return free.get((pool, hostname), 0)

    return Snapshot(
        offers=tuple(offer(h) for h in hosts),
        free_ips=free_ips,
        ip_pool_of=POOLS.get,
    )


def test_a_named_pool_that_does_not_select_the_host_is_infeasible() -> None:
    state = PlanState(snapshot({("vlan20", "h1"): 3}, "h1", "h2"))
    cand = candidate(ip_pool="vlan20")
    assert IpChecker().feasible(offer("h2"), cand, state) == "not in IPPool vlan20"
    assert IpChecker().feasible(offer("h1"), cand, state) is None


def test_a_host_no_pool_selects_takes_an_instance_without_an_address() -> None:
    state = PlanState(snapshot({}, "h3"))
    assert IpChecker().feasible(offer("h3"), candidate(), state) is None
    result = place([candidate()], state.snapshot, stack=build_default_stack(), seed="s")
    (placed,) = result.placements
    assert placed.hostname == "h3" and placed.ip_pool is None


def test_the_hosts_own_pool_is_counted_with_named_ones() -> None:
    # Two free on h1's block of vlan10: one taken by an app naming it, one by an
    # app naming none; the third finds it full, under the pool's name.
    snap = snapshot({("vlan10", "h1"): 2}, "h1")
    result = place(
        [candidate(1, ip_pool="vlan10"), candidate(2), candidate(3)],
        snap,
        stack=build_default_stack(),
        seed="s",
    )
    assert [p.ip_pool for p in result.placements] == ["vlan10", "vlan10"]
    (unplaced,) = result.unplaced
    assert unplaced.metrics.summary() == "1 agent filtered: no free IP in vlan10 (1)"


def test_a_host_without_a_block_has_no_free_address() -> None:
    result = place([candidate()], snapshot({}, "h1", "h2"), stack=build_default_stack(), seed="s")
    (unplaced,) = result.unplaced
    assert unplaced.metrics.summary() == "2 agents filtered: no free IP in vlan10 (2)"


def test_a_host_whose_pool_network_is_not_ready_takes_no_addressed_instance() -> None:
    # h1's engine lacks the pool's network yet: a launch there would fail and its
    # address would sit out the cooldown, so placement goes to h2.
    snap = dataclasses.replace(
        snapshot({("vlan10", "h1"): 5, ("vlan10", "h2"): 5}, "h1", "h2"),
        network_ready=lambda pool, hostname: hostname != "h1",
    )
    state = PlanState(snap)
    assert IpChecker().feasible(offer("h1"), candidate(), state) == "network of vlan10 not ready"
    result = place([candidate()], snap, stack=build_default_stack(), seed="s")
    assert [p.hostname for p in result.placements] == ["h2"]


def test_without_ipam_nothing_is_checked_and_no_pool_is_set() -> None:
    snap = Snapshot(offers=(offer("h1"),))
    result = place([candidate(ip_pool="vlan20")], snap, stack=build_default_stack(), seed="s")
    (placed,) = result.placements
    assert placed.ip_pool is None
