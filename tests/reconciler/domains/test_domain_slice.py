"""The per-host reservations: system slice, domain share, and the diff sent to Mesos."""

from __future__ import annotations

import random

import pytest

from adapters.mesos.model_cluster import QuotaStatus
from adapters.mesos.model_common import Resource
from adapters.mesos.model_enums import ReservationType
from crds.agentset import AgentSet, AgentSetSpec, ContainerTemplate
from crds.common import LabelSelector
from crds.domain import Domain, DomainSpec, Quota
from crds.host import Host, HostResources, HostSpec
from crds.meta import ObjectMeta
from crds.registrymirror import RegistryMirror, RegistryMirrorSpec
from reconciler.domains import (
    Amount,
    agent_ports,
    desired_reservations,
    host_domain,
    quota_changes,
    quota_config,
    reservation_diff,
    reservation_resources,
    reserved_by_role,
    system_slice,
)
from reconciler.system import SYSTEM_ROLE


def host(name: str, *, domain: str | None = None, labels: dict[str, str] | None = None) -> Host:
    return Host(
        metadata=ObjectMeta(name=name, labels=labels or {}),
        spec=HostSpec(
            domain=domain, address="127.0.0.1", resources=HostResources(cpus=8, mem=16384)
        ),
    )


def domain(name: str, *, role: str | None = None, **selector: str) -> Domain:
    spec = DomainSpec(
        role=role, host_selector=LabelSelector(match_labels=selector) if selector else None
    )
    return Domain(metadata=ObjectMeta(name=name), spec=spec)


def agentset(name: str, cpus: float, mem: int, **selector: str) -> AgentSet:
    spec = AgentSetSpec(
        template=ContainerTemplate(image="proxy:1", cpus=cpus, mem=mem),
        host_selector=LabelSelector(match_labels=selector),
    )
    return AgentSet(metadata=ObjectMeta(name=name), spec=spec)


def mirror(cpus: float, mem: int, **selector: str) -> RegistryMirror:
    spec = RegistryMirrorSpec(
        repositories=["*"], cpus=cpus, mem=mem, host_selector=LabelSelector(match_labels=selector)
    )
    return RegistryMirror(metadata=ObjectMeta(name="mirror"), spec=spec)


def test_system_slice_sums_matching_agentsets_and_one_replica_per_mirror() -> None:
    sets = [agentset("proxy", 0.5, 256), agentset("gpu-mon", 1, 512, gpu="yes")]
    mirrors = [mirror(1, 1024, registry="yes")]
    assert system_slice(host("h1"), sets, mirrors) == Amount(0.5, 256)
    both = host("h2", labels={"gpu": "yes", "registry": "yes"})
    assert system_slice(both, sets, mirrors) == Amount(2.5, 1792)


def test_system_slice_never_exceeds_the_host() -> None:
    assert system_slice(host("h1"), [agentset("big", 20, 1 << 20)], []) == Amount(8, 16384)


def test_domain_host_reserves_the_rest_to_the_domain_role() -> None:
    wanted = desired_reservations(
        host("h1", domain="checkout"),
        [domain("checkout", role="shop/checkout")],
        [agentset("proxy", 0.5, 256)],
        [],
    )
    assert wanted == {SYSTEM_ROLE: Amount(0.5, 256), "shop/checkout": Amount(7.5, 16128)}


def test_shared_pool_host_reserves_only_the_system_slice() -> None:
    wanted = desired_reservations(host("s1"), [domain("checkout")], [agentset("p", 1, 512)], [])
    assert wanted == {SYSTEM_ROLE: Amount(1, 512)}
    assert desired_reservations(host("s1"), [domain("checkout")], [], []) == {}


def test_host_selector_of_a_domain_claims_hosts_without_spec_domain() -> None:
    domains = [domain("search", tier="search"), domain("checkout")]
    assert host_domain(host("h1", labels={"tier": "search"}), domains) == domains[0]
    assert (
        host_domain(host("h2", domain="checkout", labels={"tier": "search"}), domains)
        == (domains[1])
    )
    assert host_domain(host("h3"), domains) is None
    assert host_domain(host("h4", domain="gone"), domains) is None


def test_diff_reserves_what_is_missing_and_unreserves_what_is_too_much() -> None:
    desired = {SYSTEM_ROLE: Amount(1, 512), "checkout": Amount(7, 15872)}
    actual = {SYSTEM_ROLE: Amount(0.5, 512), "search": Amount(8, 16384)}
    diff = reservation_diff(desired, actual)
    assert diff.reserve == {SYSTEM_ROLE: Amount(0.5, 0), "checkout": Amount(7, 15872)}
    assert diff.unreserve == {"search": Amount(8, 16384)}
    assert reservation_diff(desired, desired).empty


def test_reservation_resources_are_in_the_refined_dynamic_form() -> None:
    resources = reservation_resources("checkout", Amount(1.5, 0), principal="dcos")
    wire = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in resources]
    assert wire == [
        {
            "name": "cpus",
            "type": "SCALAR",
            "scalar": {"value": 1.5},
            "reservations": [{"type": "DYNAMIC", "role": "checkout", "principal": "dcos"}],
        }
    ]


def test_reserved_by_role_reads_only_dynamic_reservations() -> None:
    static = Resource.model_validate(
        {
            "name": "cpus",
            "type": "SCALAR",
            "scalar": {"value": 2},
            "reservations": [{"type": "STATIC", "role": "old"}],
        }
    )
    unreserved = Resource.model_validate({"name": "mem", "type": "SCALAR", "scalar": 100})
    dynamic = reservation_resources("checkout", Amount(3, 2048), principal="dcos")
    assert reserved_by_role([static, unreserved, *dynamic]) == {"checkout": Amount(3, 2048)}
    assert static.reservations[0].type is ReservationType.STATIC


@pytest.mark.parametrize("seed", range(20))
def test_applying_the_diff_reaches_the_desired_reservations(seed: int) -> None:
    rng = random.Random(seed)
    roles = ["a", "b", SYSTEM_ROLE]

    def amounts() -> dict[str, Amount]:
        return {
            role: Amount(rng.randint(0, 8) / 2, rng.randint(0, 8) * 512)
            for role in rng.sample(roles, rng.randint(0, 3))
        }

    desired, actual = amounts(), amounts()
    diff = reservation_diff(desired, actual)
    after = dict(actual)
    for role, amount in diff.unreserve.items():
        after[role] = after[role].minus(amount)
    for role, amount in diff.reserve.items():
        after[role] = after.get(role, Amount()) + amount
    for role in roles:
        assert after.get(role, Amount()) == desired.get(role, Amount())


def test_quota_becomes_role_limits_and_is_sent_only_when_it_differs() -> None:
    checkout = Domain(
        metadata=ObjectMeta(name="checkout"),
        spec=DomainSpec(quota=Quota(cpus=100, mem="64Gi", instances=200)),
    )
    free = domain("search")
    config = quota_config(checkout)
    assert config.role == "checkout"
    assert {k: v.value for k, v in config.limits.items()} == {"cpus": 100, "mem": 65536}
    assert not config.guarantees
    assert quota_changes([checkout, free], QuotaStatus()) == [config]
    assert quota_changes([checkout, free], QuotaStatus(configs=[config])) == []
    lifted = domain("checkout")
    assert quota_changes([lifted], QuotaStatus(configs=[config])) == [quota_config(lifted)]


def test_static_reservations_count_but_are_never_unreserved() -> None:
    desired = {"checkout": Amount(4, 4096)}
    static = {"checkout": Amount(3, 4096), "old": Amount(1, 0)}
    diff = reservation_diff(desired, {"checkout": Amount(2, 0)}, static=static)
    assert diff.reserve == {}
    assert diff.unreserve == {"checkout": Amount(1, 0)}
    assert reservation_diff(desired, {}, static=static).reserve == {"checkout": Amount(1, 0)}


PORTS = ((31000, 32000),)


def test_system_slice_takes_ports_from_the_top_per_agentset_and_replica() -> None:
    sets = [agentset("proxy", 0.5, 256), agentset("logs", 0.5, 256)]
    got = system_slice(host("h1", labels={"registry": "yes"}), sets, [mirror(1, 512)], ports=PORTS)
    assert got == Amount(2, 1024, ports=((31995, 32000),))
    assert got.ports == ((31995, 32000),)
    split = ((31000, 31005), (31010, 31011))  # the top four span two ranges
    assert system_slice(host("h1"), sets, [], ports=split).ports == ((31004, 31005), (31010, 31011))
    assert system_slice(host("h1"), [], [], ports=PORTS) == Amount()


def test_domain_role_gets_every_port_the_system_slice_does_not() -> None:
    h = host("h1", domain="checkout")
    wanted = desired_reservations(h, [domain("checkout")], [agentset("p", 1, 512)], [], ports=PORTS)
    assert wanted == {
        SYSTEM_ROLE: Amount(1, 512, ports=((31999, 32000),)),
        "checkout": Amount(7, 15872, ports=((31000, 31998),)),
    }
    shared = desired_reservations(host("s1"), [], [agentset("p", 1, 512)], [], ports=PORTS)
    assert shared == {SYSTEM_ROLE: Amount(1, 512, ports=((31999, 32000),))}


def test_port_ranges_are_diffed_and_sent_as_ranges() -> None:
    desired = {SYSTEM_ROLE: Amount(ports=((31996, 32000),)), "a": Amount(ports=((31000, 31995),))}
    actual = {SYSTEM_ROLE: Amount(ports=((31999, 32000),)), "a": Amount(ports=((31000, 31998),))}
    diff = reservation_diff(desired, actual)
    assert diff.unreserve == {"a": Amount(ports=((31996, 31998),))}
    assert diff.reserve == {SYSTEM_ROLE: Amount(ports=((31996, 31998),))}
    (wire,) = reservation_resources("a", Amount(ports=((1, 2), (5, 5))), principal="dcos")
    assert wire.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "name": "ports",
        "type": "RANGES",
        "ranges": {"range": [{"begin": 1, "end": 2}, {"begin": 5, "end": 5}]},
        "reservations": [{"type": "DYNAMIC", "role": "a", "principal": "dcos"}],
    }
    assert reserved_by_role([wire]) == {"a": Amount(ports=((1, 2), (5, 5)))}
    assert agent_ports([wire]) == ((1, 2), (5, 5))


@pytest.mark.parametrize("seed", range(20))
def test_applying_a_diff_of_port_ranges_reaches_the_desired_reservations(seed: int) -> None:
    rng = random.Random(seed)
    roles = ["a", "b", SYSTEM_ROLE]

    def amounts() -> dict[str, Amount]:
        out: dict[str, Amount] = {}
        for role in rng.sample(roles, rng.randint(0, 3)):
            begin = rng.randint(0, 40)
            out[role] = Amount(rng.randint(0, 4), ports=((begin, begin + rng.randint(0, 20)),))
        return out

    desired, actual = amounts(), amounts()
    after = dict(actual)
    diff = reservation_diff(desired, actual)
    for role, amount in diff.unreserve.items():
        after[role] = after[role].minus(amount)
    for role, amount in diff.reserve.items():
        after[role] = after.get(role, Amount()) + amount
    for role in roles:
        assert after.get(role, Amount()) == desired.get(role, Amount())
