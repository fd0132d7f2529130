"""describe: metadata, spec, status, conditions and events of one object."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import Result

from adapters.etcd import EtcdSettings, open_store
from adapters.protocols import ObjectKey
from crds.app import AppStatus
from crds.events import Event, EventKind, InvolvedObject
from crds.meta import Condition, ConditionStatus

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""


async def _report(endpoint: str, prefix: str) -> None:
    """What a controller would write: a status with conditions, and a warning."""
    key = ObjectKey("App", "checkout", "cart")
    now = datetime.now(UTC)
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix)) as store:
        obj = await store.get(key)
        status = AppStatus(
            observed_generation=1,
            instances=5,
            ready_instances=4,
            conditions=[
                Condition(
                    type="Ready",
                    status=ConditionStatus.FALSE,
                    reason="NotEnoughOffers",
                    message="4 of 6 instances are ready",
                    last_transition_time=now - timedelta(minutes=5),
                )
            ],
        )
        await store.update_status(obj.model_copy(update={"status": status}))
        await store.record_event(
            Event(
                involved_object=InvolvedObject(kind="App", name="cart", domain="checkout"),
                type=EventKind.WARNING,
                reason="FailedPlacement",
                message="4 agents filtered: cpus exhausted (4)",
                source="app-controller",
                first_timestamp=now,
                last_timestamp=now,
            )
        )


def test_describe_shows_metadata_spec_status_conditions_and_events(
    dcosctl: Cli, applied: Path, etcd_endpoint: str, prefix: str
) -> None:
    asyncio.run(_report(etcd_endpoint, prefix))
    result = dcosctl("describe", "app", "cart", "-d", "checkout")
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert lines[0].split() == ["Name:", "cart"]
    assert lines[1].split() == ["Domain:", "checkout"]
    assert "Labels:       tier=web" in out
    assert "last-applied" not in out
    assert "  image: registry.example.com/checkout/cart:2.3.1" in out
    assert "  readyInstances: 4" in out
    conditions = lines.index("Conditions:")
    assert lines[conditions + 1].split() == ["Type", "Status", "Reason", "Message", "Age"]
    assert lines[conditions + 3].split()[:3] == ["Ready", "False", "NotEnoughOffers"]
    assert lines[conditions + 3].split()[-1] == "5m"
    events = lines.index("Events:")
    assert lines[events + 1].split() == ["Type", "Reason", "Age", "From", "Message"]
    rows = [line.split()[:2] for line in lines[events + 3 :]]
    assert ["Warning", "FailedPlacement"] in rows
    assert any("4 agents filtered" in line for line in lines[events:])


def test_describe_of_a_missing_object_is_one_error_line(
    dcosctl: Cli, applied: Path, check_error: ErrorCheck
) -> None:
    check_error(dcosctl("describe", "app", "ghost", "-d", "checkout"))


def test_events_lists_what_apply_recorded(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("events", "-A")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    objects = {line.split()[3] for line in lines[1:]}
    assert objects == {"App/checkout/cart", "App/checkout/payment", "App/search/indexer"}


def test_events_of_one_domain_and_of_one_object(dcosctl: Cli, applied: Path) -> None:
    in_search = dcosctl("events", "-d", "search").stdout.splitlines()
    assert [line.split()[3] for line in in_search[1:]] == ["App/search/indexer"]
    of_cart = dcosctl("events", "app", "cart", "-d", "checkout").stdout.splitlines()
    assert [line.split()[3] for line in of_cart[1:]] == ["App/checkout/cart"]


def test_events_when_there_are_none(dcosctl: Cli) -> None:
    result = dcosctl("events")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "No events found.\n")


def test_describe_domain_shows_its_hosts_own_then_borrowed() -> None:
    from cli.commands.describe import describe_lines
    from crds.domain import Domain

    domain = Domain.model_validate(
        {
            "metadata": {"name": "shop"},
            "spec": {"sharedPool": {"borrow": "WhenExhausted"}},
            "status": {
                "hosts": 1,
                "borrowedCpus": 1.5,
                "perHost": [
                    {
                        "host": "home-1",
                        "cpus": 3,
                        "mem": 3072,
                        "usedCpus": 3,
                        "usedMem": 384,
                        "instances": 4,
                    },
                    {
                        "host": "shared-1",
                        "borrowed": True,
                        "usedCpus": 1.5,
                        "usedMem": 192,
                        "instances": 3,
                    },
                ],
            },
        }
    )
    lines = [
        "".join(text for text, _ in line)
        for line in describe_lines(domain, [], now=datetime.now(UTC))
    ]
    hosts = lines.index("Hosts:")
    assert lines[hosts + 1].split() == [
        "Host",
        "Pool",
        "CPUs",
        "used/capacity",
        "Mem",
        "used/capacity",
        "Instances",
    ]
    assert lines[hosts + 3].split() == ["home-1", "own", "3/3", "384/3072", "4"]
    assert lines[hosts + 4].split() == ["shared-1", "shared", "(borrowed)", "1.5/-", "192/-", "3"]
    assert "perHost" not in "\n".join(lines)
