"""A domain's capacity, usage and borrowed share, from hosts and instance records."""

from __future__ import annotations

from datetime import UTC, datetime

from crds.domain import BorrowPolicy, Domain, DomainSpec, SharedPoolPolicy
from crds.host import Host, HostResources, HostSpec
from crds.meta import ObjectMeta
from reconciler.apps.instances import Instance, InstanceState
from reconciler.domains.slice import Amount
from reconciler.domains.usage import domain_usage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def host(name: str, domain: str | None) -> Host:
    resources = HostResources(cpus=8, mem=16384)
    spec = HostSpec(domain=domain, address="127.0.0.1", resources=resources)
    return Host(metadata=ObjectMeta(name=name), spec=spec)


def inst(
    name: str,
    hostname: str | None,
    *,
    domain: str = "checkout",
    app: str = "cart",
    **fields: object,
) -> Instance:
    return Instance.model_validate(
        {
            "instanceId": name,
            "domain": domain,
            "app": app,
            "version": "v1",
            "state": InstanceState.RUNNING,
            "hostname": hostname,
            "launchedAt": T0,
        }
        | fields
    )


def test_usage_counts_live_instances_and_borrowed_ones_on_the_shared_pool() -> None:
    borrowing = DomainSpec(shared_pool=SharedPoolPolicy(borrow=BorrowPolicy.WHEN_EXHAUSTED))
    checkout = Domain(metadata=ObjectMeta(name="checkout"), spec=borrowing)
    search = Domain(metadata=ObjectMeta(name="search"), spec=DomainSpec())
    hosts = [host("h1", "checkout"), host("h2", "checkout"), host("s1", "search"), host("p1", None)]
    instances = [
        inst("a", "h1"),
        inst("b", "h1"),
        inst("c", "p1"),  # borrowed
        inst("d", None, state=InstanceState.PENDING),  # waiting: uses nothing
        inst("e", "h2", state=InstanceState.KILLED),  # ended
        inst("f", "s1", domain="search"),  # another domain's
    ]
    usage = domain_usage(checkout, [checkout, search], hosts, instances, {"cart": Amount(0.5, 256)})
    assert usage.capacity == Amount(16, 32768)
    assert (usage.used, usage.instances) == (Amount(1.5, 768), 3)
    assert usage.borrowed == Amount(0.5, 256)
    assert usage.by_host == {"h1": Amount(1.0, 512), "h2": Amount(), "p1": Amount(0.5, 256)}


def test_a_domain_that_never_borrows_runs_on_its_reservation_not_borrowed() -> None:
    system = Domain(metadata=ObjectMeta(name="dcos-system"), spec=DomainSpec())
    hosts = [host("h1", "checkout"), host("p1", None)]
    instances = [inst("a", "h1", domain="dcos-system"), inst("b", "p1", domain="dcos-system")]
    usage = domain_usage(system, [system], hosts, instances, {"cart": Amount(0.5, 256)})
    assert (usage.used, usage.instances) == (Amount(1.0, 512), 2)
    assert usage.borrowed == Amount()


def test_per_host_rows_list_own_hosts_then_the_shared_hosts_borrowed() -> None:
    borrowing = DomainSpec(shared_pool=SharedPoolPolicy(borrow=BorrowPolicy.WHEN_EXHAUSTED))
    checkout = Domain(metadata=ObjectMeta(name="checkout"), spec=borrowing)
    hosts = [host("h2", "checkout"), host("h1", "checkout"), host("p1", None), host("p2", None)]
    instances = [inst("a", "h1"), inst("b", "p1"), inst("c", "p1")]
    usage = domain_usage(checkout, [checkout], hosts, instances, {"cart": Amount(0.5, 256)})
    rows = [(r.host, r.borrowed, r.capacity, r.used, r.instances) for r in usage.hosts]
    assert rows == [
        ("h1", False, Amount(8, 16384), Amount(0.5, 256), 1),
        ("h2", False, Amount(8, 16384), Amount(), 0),
        ("p1", True, None, Amount(1.0, 512), 2),
    ]
