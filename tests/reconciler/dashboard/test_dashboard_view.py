"""The dashboard's rows: exactly what the statuses hold, sorted, and JSON as it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network
from typing import Any

import pytest

from crds.agentset import AgentSet
from crds.app import App
from crds.domain import Domain
from crds.events import Event, EventKind, InvolvedObject
from crds.host import Host
from crds.ippool import IPPool, IPPoolSpec
from reconciler.dashboard.view import (
    EVENTS_SHOWN,
    app_rows,
    domain_rows,
    event_rows,
    host_rows,
    pool_rows,
    snapshot,
    usable_count,
)
from reconciler.ipam.addresses import carve, usable_addresses

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)


def _domain(name: str, status: dict[str, Any] | None = None, **spec: Any) -> Domain:
    return Domain.model_validate({"metadata": {"name": name}, "spec": spec, "status": status or {}})


def _host(name: str, domain: str | None = None, status: dict[str, Any] | None = None) -> Host:
    spec: dict[str, Any] = {"address": "10.0.0.1", "resources": {"cpus": 8, "mem": 16384}}
    if domain:
        spec["domain"] = domain
    return Host.model_validate({"metadata": {"name": name}, "spec": spec, "status": status or {}})


def _app(domain: str, name: str, instances: int, status: dict[str, Any] | None = None) -> App:
    return App.model_validate(
        {
            "metadata": {"name": name, "domain": domain, "generation": 2},
            "spec": {"image": "registry.example.com/a:1", "instances": instances},
            "status": status or {},
        }
    )


def _pool(name: str, status: dict[str, Any] | None = None, **spec: Any) -> IPPool:
    base = {"vlan": 110, "cidr": "10.110.0.0/24", "gateway": "10.110.0.1", "blockSize": 28}
    return IPPool.model_validate(
        {"metadata": {"name": name}, "spec": base | spec, "status": status or {}}
    )


def _event(name: str, reason: str, at: datetime, **extra: Any) -> Event:
    return Event(
        involved_object=InvolvedObject(kind="App", domain="shop", name=name),
        reason=reason,
        message=f"{reason} {name}",
        first_timestamp=at,
        last_timestamp=at,
        **extra,
    )


def test_a_domain_row_holds_its_status_and_borrowing_limits() -> None:
    status = {
        "hosts": 2,
        "capacityCpus": 16,
        "capacityMem": 32768,
        "allocatedCpus": 18.5,
        "allocatedMem": 2048,
        "borrowedCpus": 2.5,
        "borrowedMem": 512,
        "instances": 7,
        "conditions": [{"type": "Reserved", "status": "True", "reason": "Reserved"}],
    }
    spec = {"sharedPool": {"borrow": "WhenExhausted", "maxBorrow": {"cpus": 4}}}
    [row] = domain_rows([_domain("shop", status, **spec)])
    assert row == {
        "name": "shop",
        "priority": 0,
        "borrow": "WhenExhausted",
        "hosts": 2,
        "instances": 7,
        "capacityCpus": 16.0,
        "capacityMem": 32768.0,
        "usedCpus": 18.5,
        "usedMem": 2048.0,
        "borrowedCpus": 2.5,
        "borrowedMem": 512.0,
        "maxBorrowCpus": 4.0,
        "maxBorrowMem": None,
        "reserved": {"status": "True", "reason": "Reserved", "message": ""},
    }


def test_what_no_controller_wrote_yet_stays_unknown() -> None:
    [domain] = domain_rows([_domain("new")])
    assert domain["capacityCpus"] is None and domain["reserved"] is None
    assert domain["maxBorrowCpus"] is None
    [app] = app_rows([_app("shop", "web", 3)])
    assert (app["ready"], app["updated"], app["desired"]) == (None, None, 3)
    assert app["progressing"] is None and app["placement"] is None
    [host] = host_rows([_host("h1")], [], [])
    assert (host["usedCpus"], host["agents"], host["agentId"]) == (None, None, None)
    [pool] = pool_rows([_pool("p")])
    assert (pool["used"], pool["total"], pool["utilisation"]) == (None, None, None)


def test_a_host_sums_what_every_domain_uses_there_and_counts_its_agents() -> None:
    shop = _domain(
        "shop",
        {"perHost": [{"host": "h1", "usedCpus": 1.5, "usedMem": 256, "instances": 3}]},
    )
    search = _domain(
        "search",
        {"perHost": [{"host": "h1", "borrowed": True, "usedCpus": 0.5, "usedMem": 128}]},
    )
    template = {"image": "registry.example.com/proxy:1", "cpus": 0.1, "mem": 32}

    def agentset(name: str, ready: bool) -> AgentSet:
        hosts = [{"host": "h1", "app": f"{name}-h1", "template": "x", "ready": ready}]
        return AgentSet.model_validate(
            {
                "metadata": {"name": name},
                "spec": {"template": template},
                "status": {"hosts": hosts},
            }
        )

    hosts = [_host("h2"), _host("h1", "shop", {"agentId": "a-1", "instances": 4})]
    rows = host_rows(hosts, [shop, search], [agentset("proxy", True), agentset("logs", False)])
    assert [r["name"] for r in rows] == ["h1", "h2"]
    h1, h2 = rows
    assert (h1["usedCpus"], h1["usedMem"], h1["instances"]) == (2.0, 384.0, 4)
    assert (h1["agentsReady"], h1["agents"], h1["agentId"]) == (1, 2, "a-1")
    assert (h1["domain"], h1["lifecycle"], h1["cpus"]) == ("shop", "Active", 8.0)
    assert (h2["domain"], h2["usedCpus"], h2["agents"]) == (None, None, None)


def test_an_app_row_shows_rollout_progress_and_why_instances_wait() -> None:
    status = {
        "readyInstances": 2,
        "updatedInstances": 3,
        "healthyInstances": 2,
        "observedGeneration": 2,
        "placement": "3 agents filtered: cpus exhausted (3)",
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "NewVersionRollingOut"},
            {"type": "Available", "status": "True", "reason": "MinimumHealthy", "message": "ok"},
        ],
    }
    rows = app_rows([_app("shop", "web", 5, status), _app("checkout", "cart", 1)])
    assert [(r["domain"], r["name"]) for r in rows] == [("checkout", "cart"), ("shop", "web")]
    web = rows[1]
    assert (web["ready"], web["updated"], web["desired"], web["current"]) == (2, 3, 5, True)
    assert web["progressing"] == {"status": "True", "reason": "NewVersionRollingOut", "message": ""}
    assert web["available"] == {"status": "True", "reason": "MinimumHealthy", "message": "ok"}
    assert web["placement"] == "3 agents filtered: cpus exhausted (3)"
    placed = app_rows([_app("shop", "web", 5, status | {"placement": ""})])[0]
    assert placed["placement"] is None


def test_a_pool_row_counts_the_usable_addresses_of_its_blocks() -> None:
    hosts = [
        {"host": "h1", "blocks": ["10.110.0.0/28"], "used": 3, "free": 10, "utilisation": 0.23},
        {"host": "h2", "blocks": ["10.110.0.16/28"], "used": 0, "free": 16},
    ]
    status = {
        "totalBlocks": 16,
        "allocatedBlocks": 2,
        "allocatedIps": 3,
        "utilisation": 0.1034,
        "hosts": hosts,
    }
    [row] = pool_rows([_pool("p", status, reserved=["10.110.0.2-10.110.0.5"])])
    # the first /28 loses the network address, the gateway and 4 reserved: 10 usable
    assert (row["used"], row["total"], row["utilisation"]) == (3, 10 + 16, 0.1034)
    assert (row["blocks"], row["totalBlocks"], row["cidr"]) == (2, 16, "10.110.0.0/24")


@pytest.mark.parametrize(
    "spec",
    [
        {"cidr": "10.1.0.0/24", "gateway": "10.1.0.1", "blockSize": 28},
        {"cidr": "10.1.0.0/24", "gateway": "10.1.0.254", "blockSize": 26, "reserved": ["10.1.0.3"]},
        {
            "cidr": "10.1.0.0/22",
            "gateway": "10.1.0.1",
            "blockSize": 28,
            "reserved": ["10.1.0.0-10.1.0.20", "10.1.0.18-10.1.0.40", "10.1.3.250-10.1.3.254"],
        },
        {"cidr": "10.1.0.0/28", "gateway": "10.1.0.14", "blockSize": 28, "reserved": ["10.1.0.1"]},
    ],
)
def test_usable_count_matches_the_allocators_addresses(spec: dict[str, Any]) -> None:
    pool = IPPoolSpec.model_validate({"vlan": 1} | spec)
    for block in carve(pool):
        assert usable_count(pool, block) == len(usable_addresses(pool, block)), block
    assert usable_count(pool, IPv4Network(spec["cidr"])) == len(
        usable_addresses(pool, IPv4Network(spec["cidr"]))
    )


def test_events_are_the_most_recent_newest_first() -> None:
    events = [
        _event(f"app{i}", "Scaled", T0 + timedelta(seconds=i)) for i in range(EVENTS_SHOWN + 5)
    ]
    events.append(_event("web", "FailedPlacement", T0 - timedelta(hours=1), type=EventKind.WARNING))
    rows = event_rows(events)
    assert len(rows) == EVENTS_SHOWN
    assert rows[0]["object"] == f"App/shop/app{EVENTS_SHOWN + 4}"
    assert rows[0]["lastTimestamp"] == "2026-11-11T10:00:54Z"
    assert rows[-1]["object"] == "App/shop/app5"
    assert [r["reason"] for r in event_rows(events[-1:])] == ["FailedPlacement"]
    assert event_rows(events[-1:])[0]["type"] == "Warning"


def test_the_snapshot_is_json_and_the_same_objects_give_the_same_text() -> None:
    def text() -> str:
        data = snapshot(
            domains=[_domain("b"), _domain("a")],
            hosts=[_host("h1", "a")],
            apps=[_app("a", "web", 2)],
            pools=[_pool("p")],
            agentsets=[],
            events=event_rows([_event("web", "Scaled", T0)]),
            controller={"identity": "c-1", "leader": True, "synced": True},
        )
        return json.dumps(data, separators=(",", ":"))

    first = text()
    assert first == text()
    data = json.loads(first)
    assert [d["name"] for d in data["domains"]] == ["a", "b"]
    assert set(data) == {"controller", "domains", "hosts", "apps", "pools", "events"}
