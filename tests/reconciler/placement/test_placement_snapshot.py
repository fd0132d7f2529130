"""Building the snapshot: Mesos offer values, Apps, Domains and Hosts to plain values."""

from __future__ import annotations

from typing import Any

import pytest

from crds.app import App, Constraint
from crds.domain import BorrowPolicy, Domain
from crds.host import Host, HostLifecycle
from reconciler.placement import (
    AgentOffer,
    Amounts,
    AppKey,
    Candidate,
    DomainUsage,
    lifecycles_of,
    seed_from,
)


def test_offer_splits_into_reserved_and_unreserved_parts() -> None:
    parts = AgentOffer.from_values(
        offer_id="o1",
        agent_id="a1",
        hostname="sh1-r1-01",
        role="checkout",
        attributes={"rack": "r1", "cores": 48.0, "ghz": 2.2},
        reserved=Amounts(cpus=40, mem=200_000, ports=((31100, 31199), (31000, 31009))),
        unreserved=Amounts(cpus=6, mem=8192, disk=500),
    )
    reserved, shared = parts
    assert (reserved.reserved, shared.reserved) == (True, False)
    assert reserved.role == shared.role == "checkout"
    assert reserved.attributes == {
        "rack": "r1",
        "cores": "48",
        "ghz": "2.2",
        "hostname": "sh1-r1-01",
    }
    assert reserved.ports == ((31000, 31009), (31100, 31199))
    assert reserved.port_count == 110
    assert (shared.cpus, shared.mem, shared.disk, shared.ports) == (6, 8192, 500, ())


@pytest.mark.parametrize(
    ("reserved", "unreserved", "kinds"),
    [
        pytest.param(Amounts(cpus=1), Amounts(), [True], id="reserved-only"),
        pytest.param(Amounts(), Amounts(mem=64), [False], id="unreserved-only"),
        pytest.param(Amounts(), Amounts(), [], id="empty-offer"),
    ],
)
def test_empty_parts_are_left_out(
    reserved: Amounts, unreserved: Amounts, kinds: list[bool]
) -> None:
    parts = AgentOffer.from_values(
        offer_id="o1",
        agent_id="a1",
        hostname="h1",
        role="*",
        attributes={},
        reserved=reserved,
        unreserved=unreserved,
    )
    assert [part.reserved for part in parts] == kinds


def _domain(**spec: Any) -> Domain:
    return Domain.model_validate(
        {"metadata": {"name": "checkout"}, "spec": spec, "status": {"allocatedCpus": 10}}
    )


def test_candidate_for_app_carries_app_and_domain_policy() -> None:
    app = App.model_validate(
        {
            "metadata": {"name": "cart", "domain": "checkout"},
            "spec": {
                "image": "registry.local:5000/shop/cart:1.0",
                "cpus": 0.5,
                "mem": "1Gi",
                "ipPool": "vlan110",
                "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "3"]],
            },
        }
    )
    domain = _domain(
        role="shop-checkout",
        sharedPool={"borrow": "WhenExhausted", "maxBorrow": {"cpus": 32, "mem": "64Gi"}},
    )
    cand = Candidate.for_app(app, domain, instance_id="cart-7", version="v3", host_ports=1)
    assert cand.app == AppKey("checkout", "cart")
    assert (cand.role, cand.cpus, cand.mem, cand.ports) == ("shop-checkout", 0.5, 1024.0, 1)
    assert cand.borrow is BorrowPolicy.WHEN_EXHAUSTED
    assert (cand.max_borrow_cpus, cand.max_borrow_mem) == (32, 65536.0)
    assert cand.ip_pool == "vlan110"
    assert cand.constraints[1] == Constraint.model_validate(["rack", "GROUP_BY", "3"])
    assert cand.request_id == "checkout/cart@v3#cart-7"


def test_domain_usage_reads_quota_and_status() -> None:
    usage = DomainUsage.of(_domain(quota={"cpus": 96, "mem": "192Gi", "instances": 200}))
    assert (usage.quota_cpus, usage.quota_mem, usage.quota_instances) == (96, 196608.0, 200)
    assert usage.quota_disk is None
    assert (usage.cpus, usage.mem, usage.instances) == (10, 0, 0)


def test_lifecycles_by_hostname() -> None:
    def host(name: str, lifecycle: str) -> Host:
        spec = {"lifecycle": lifecycle, "address": "10.0.0.1", "resources": {"cpus": 4, "mem": 64}}
        return Host.model_validate({"metadata": {"name": name}, "spec": spec})

    found = lifecycles_of([host("h1", "Active"), host("h2", "Draining")])
    assert found == {"h1": HostLifecycle.ACTIVE, "h2": HostLifecycle.DRAINING}


def test_seed_is_stable_across_processes() -> None:
    assert seed_from("checkout/cart@v1#i1") == 0x6C21AFB3514F4B9C  # sha256, not hash()
    assert seed_from("a", "b") != seed_from("ab")
