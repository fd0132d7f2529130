"""reconciler.hosts.network and census: the pool's network plan and drift; live
instances per host."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network

from adapters.protocols import BridgeState
from crds.ippool import IPPool
from reconciler.apps import Instance, InstanceState
from reconciler.hosts.census import live_instances_by_host
from reconciler.hosts.network import MANAGED_BY, network_drift, network_plan

POOL = IPPool.model_validate(
    {
        "metadata": {"name": "v110"},
        "spec": {"vlan": 110, "cidr": "10.20.0.0/22", "gateway": "10.20.0.1"},
    }
)
BLOCK = IPv4Network("10.20.0.16/28")


def test_network_plan_is_pool_cidr_host_block_and_gateway() -> None:
    plan = network_plan(POOL, host="h1", block=BLOCK)
    assert plan.name == "dcos-v110"
    assert (plan.subnet, plan.ip_range, plan.gateway) == (
        IPv4Network("10.20.0.0/22"),
        BLOCK,
        IPv4Address("10.20.0.1"),
    )
    assert plan.labels == {"dcos.managed-by": MANAGED_BY, "dcos.pool": "v110", "dcos.host": "h1"}


def test_network_drift_reports_each_differing_setting() -> None:
    plan = network_plan(POOL, host="h1", block=BLOCK)
    same = BridgeState("dcos-v110", plan.subnet, BLOCK, plan.gateway)
    assert network_drift(plan, same) == []
    other = BridgeState("dcos-v110", plan.subnet, IPv4Network("10.20.0.32/28"), None)
    rows = network_drift(plan, other)
    assert [(d.field, d.want, d.have) for d in rows] == [
        ("network/dcos-v110.ipRange", "10.20.0.16/28", "10.20.0.32/28"),
        ("network/dcos-v110.gateway", "10.20.0.1", "(none)"),
    ]
    assert "not recreated" in rows[0].message


def test_live_instances_by_host_skips_terminal_and_unplaced() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def record(i: int, host: str | None, state: InstanceState) -> tuple[str, bytes]:
        inst = Instance(
            instance_id=f"shop.web.v1.{i:08x}",
            domain="shop",
            app="web",
            version="v1",
            state=state,
            hostname=host,
            launched_at=now,
        )
        return f"instances/shop/web/{inst.instance_id}", inst.to_json().encode()

    records = [
        record(1, "h1", InstanceState.RUNNING),
        record(2, "h1", InstanceState.UNREACHABLE),
        record(3, "h1", InstanceState.KILLED),
        record(4, "h2", InstanceState.FINISHED),
        record(5, None, InstanceState.PENDING),
        ("instances/shop/web/bad", b"{not json"),
    ]
    assert live_instances_by_host(records) == {"h1": 2}
