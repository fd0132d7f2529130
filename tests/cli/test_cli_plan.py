"""plan -f: placement over the local Mesos master's agents and the run's etcd,
then apply --if-revision refusing once an object of the files changed."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import Result

from adapters.etcd import EtcdStore
from adapters.mesos.model_base import from_json
from adapters.mesos.model_operator import GetAgents
from adapters.protocols import ObjectKey, OfferAmounts
from cli.commands.plan import _subtract_ranges, free_offer_views
from crds.app import App
from localcluster.etcd import free_port
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings
from reconciler.apps import Instance, InstanceState, spec_version
from reconciler.apps.records import instance_path
from reconciler.plan_live import Change, new_instances

Cli = Callable[..., Result]
AsyncCli = Callable[..., Awaitable[Result]]
ErrorCheck = Callable[..., str]

DOMAIN = """\
apiVersion: dcos/v1
kind: Domain
metadata: {name: shop}
spec: {sharedPool: {borrow: WhenExhausted}}
"""
WEB = """\
apiVersion: dcos/v1
kind: App
metadata: {name: web, domain: shop}
spec:
  image: web:1
  instances: INSTANCES
  cpus: 1
  mem: 256
  ports: [{containerPort: 80}]
  constraints: [{field: hostname, operator: UNIQUE}]
"""


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    agents = tuple(
        AgentSpec(
            hostname=f"agent-{i}.local",
            cpus=2,
            mem=2048,
            ports="31000-31009",
            attributes=f"rack:r{i}",
            reservations=(("shop", "cpus:1;mem:512;ports:[31000-31004]"),),
            containerizer="sim",
        )
        for i in (1, 2, 3)
    )
    async with LocalMaster(MasterSettings(agents=agents)) as started:
        yield started


@pytest.fixture
def cli(etcd_endpoint: str, etcd_prefix: str, run_cli: Cli, local: LocalMaster) -> AsyncCli:
    """dcosctl on a thread (the test's loop serves the master), pointed at both."""

    async def invoke(*args: str) -> Result:
        call = ("--etcd", etcd_endpoint, "--prefix", etcd_prefix, *args)
        if args[0] == "plan":
            call = (*call, "--mesos", local.url)
        return await asyncio.to_thread(run_cli, *call)

    return invoke


def files(tmp_path: Path, instances: int) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(DOMAIN + "---\n" + WEB.replace("INSTANCES", str(instances)))
    return path


def revision_of(result: Result) -> int:
    found = re.search(r"planned at etcd revision (\d+)", result.stdout)
    assert found, result.stdout
    return int(found.group(1))


async def test_plan_places_new_instances_and_explains_the_rest(
    cli: AsyncCli, tmp_path: Path
) -> None:
    result = await cli("plan", "-f", str(files(tmp_path, 4)))
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("App/shop/web")]
    assert len(rows) == 4
    placed = [row for row in rows if "role shop (reserved)" in row]
    assert len(placed) == 3
    assert {row.split()[4] for row in placed} == {"agent-1.local", "agent-2.local", "agent-3.local"}
    assert all(row.split()[1] == "create" for row in rows)
    (unplaced,) = [row for row in rows if "cannot be placed" in row]
    assert "UNIQUE hostname" in unplaced
    assert "3 of 4 new instance(s) placed over 6 offer(s)" in result.stdout


async def test_plan_marks_instances_borrowed_from_the_shared_pool(
    cli: AsyncCli, tmp_path: Path
) -> None:
    """Each agent reserves one cpu for shop; the other is the shared pool, borrowed
    (``WhenExhausted``) only once the reserved ones are full."""
    path = tmp_path / "batch.yaml"
    batch = WEB.replace("name: web", "name: batch").replace("INSTANCES", "5")
    batch = batch.replace("  ports: [{containerPort: 80}]\n", "").replace(
        "  constraints: [{field: hostname, operator: UNIQUE}]\n", ""
    )
    path.write_text(DOMAIN + "---\n" + batch)
    result = await cli("plan", "-f", str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[5] == "BORROWED"
    rows = [line.split() for line in lines if line.startswith("App/shop/batch")]
    assert sorted(row[5] for row in rows) == ["no", "no", "no", "yes", "yes"]
    assert all("(shared pool)" in " ".join(row) for row in rows if row[5] == "yes")
    assert "5 of 5 new instance(s) placed (2 borrowed from the shared pool)" in result.stdout


async def test_plan_writes_nothing(cli: AsyncCli, store: EtcdStore, tmp_path: Path) -> None:
    before = await store.revision()
    assert (await cli("plan", "-f", str(files(tmp_path, 2)))).exit_code == 0
    assert await store.revision() == before


async def test_plan_of_a_scale_up_places_only_the_extra_instances(
    cli: AsyncCli, tmp_path: Path
) -> None:
    assert (await cli("apply", "-f", str(files(tmp_path, 1)))).exit_code == 0
    result = await cli("plan", "-f", str(files(tmp_path, 3)))
    rows = [line for line in result.stdout.splitlines() if line.startswith("App/shop/web")]
    assert [row.split()[1:3] for row in rows] == [["scale", "1/2"], ["scale", "2/2"]]


async def test_plan_of_a_new_version_counts_instances_already_running_it(
    cli: AsyncCli, store: EtcdStore, tmp_path: Path
) -> None:
    path = files(tmp_path, 3)
    assert (await cli("apply", "-f", str(path))).exit_code == 0
    path.write_text(path.read_text().replace("web:1", "web:2"))
    new = App.model_validate(
        {
            "metadata": {"name": "web", "domain": "shop"},
            "spec": {
                "image": "web:2",
                "instances": 3,
                "cpus": 1,
                "mem": 256,
                "ports": [{"containerPort": 80}],
                "constraints": [{"field": "hostname", "operator": "UNIQUE"}],
            },
        }
    )
    running = Instance(
        instance_id="shop.web.abcdef12.00000001",
        domain="shop",
        app="web",
        version=spec_version(new.spec),
        state=InstanceState.RUNNING,
        hostname="agent-1.local",
        agent_id="a1",
        launched_at=datetime.now(UTC),
    )
    await store.put_raw(instance_path(running), running.to_json().encode())
    result = await cli("plan", "-f", str(path))
    rows = [line for line in result.stdout.splitlines() if line.startswith("App/shop/web")]
    assert [row.split()[1:3] for row in rows] == [["rollout", "1/2"], ["rollout", "2/2"]]
    assert not any("agent-1.local" in row for row in rows)  # UNIQUE: the running one is there


async def test_unchanged_app_has_nothing_to_place(cli: AsyncCli, tmp_path: Path) -> None:
    path = files(tmp_path, 2)
    assert (await cli("apply", "-f", str(path))).exit_code == 0
    result = await cli("plan", "-f", str(path))
    assert result.exit_code == 0, result.output
    assert "App/shop/web: nothing to place (none)" in result.stdout


async def test_apply_if_revision_refuses_after_a_change(
    cli: AsyncCli, tmp_path: Path, check_error: ErrorCheck
) -> None:
    path = files(tmp_path, 2)
    assert (await cli("apply", "-f", str(path))).exit_code == 0
    revision = revision_of(await cli("plan", "-f", str(path)))
    ok = await cli("apply", "-f", str(path), "--if-revision", str(revision))
    assert ok.exit_code == 0, ok.output
    revision = revision_of(await cli("plan", "-f", str(path)))
    scaled = await cli("scale", "app/web", "-d", "shop", "--instances", "5")
    assert scaled.exit_code == 0
    refused = await cli("apply", "-f", str(path), "--if-revision", str(revision))
    line = check_error(refused)
    assert f"App/shop/web changed after revision {revision}" in line


async def test_status_writes_do_not_count_as_changes(
    cli: AsyncCli, store: EtcdStore, tmp_path: Path
) -> None:
    path = files(tmp_path, 2)
    assert (await cli("apply", "-f", str(path))).exit_code == 0
    revision = revision_of(await cli("plan", "-f", str(path)))
    app = await store.get(ObjectKey("App", "shop", "web"))
    status = app.status.model_copy(update={"observed_generation": 1})
    await store.update_status(app.model_copy(update={"status": status}))
    ok = await cli("apply", "-f", str(path), "--if-revision", str(revision))
    assert ok.exit_code == 0, ok.output


async def test_mesos_down_is_one_line(
    cli: AsyncCli,
    tmp_path: Path,
    etcd_endpoint: str,
    etcd_prefix: str,
    run_cli: Cli,
    check_error: ErrorCheck,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    args = ("--etcd", etcd_endpoint, "--prefix", etcd_prefix, "plan", "-f")
    result = await asyncio.to_thread(run_cli, *args, str(files(tmp_path, 1)), "--mesos", url)
    assert "127.0.0.1" in check_error(result)


def test_etcd_down_is_one_line(run_cli: Cli, tmp_path: Path, check_error: ErrorCheck) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    args = ("--etcd", endpoint, "--timeout", "0.5", "plan", "-f", str(files(tmp_path, 1)))
    assert endpoint in check_error(run_cli(*args))


# ------------------------------------------------------- what an offer holds


AGENTS = {
    "agents": [
        {
            "agent_info": {
                "hostname": "a1.local",
                "id": {"value": "A1"},
                "attributes": [
                    {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                    {"name": "gen", "type": "SCALAR", "scalar": {"value": 4}},
                ],
            },
            "active": True,
            "version": "1.11.0",
            "total_resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096}},
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": 31000, "end": 31009}]},
                },
                {
                    "name": "cpus",
                    "type": "SCALAR",
                    "scalar": {"value": 2},
                    "reservations": [{"type": "STATIC", "role": "shop"}],
                },
            ],
            "allocated_resources": [
                {
                    "name": "cpus",
                    "type": "SCALAR",
                    "scalar": {"value": 1.5},
                    "allocation_info": {"role": "shop"},
                },
                {
                    "name": "ports",
                    "type": "RANGES",
                    "ranges": {"range": [{"begin": 31003, "end": 31004}]},
                    "allocation_info": {"role": "shop"},
                },
                {
                    "name": "cpus",
                    "type": "SCALAR",
                    "scalar": {"value": 2},
                    "reservations": [{"type": "STATIC", "role": "shop"}],
                    "allocation_info": {"role": "shop"},
                },
            ],
        },
        {
            "agent_info": {"hostname": "a2.local", "id": {"value": "A2"}},
            "active": True,
            "version": "1.11.0",
            "drain_info": {"state": "DRAINING", "config": {"mark_gone": False}},
            "total_resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}}],
        },
    ]
}


def test_an_offer_holds_total_minus_allocated_per_role() -> None:
    views = free_offer_views(from_json(GetAgents, json.dumps(AGENTS)))
    (shared,) = views  # the reservation is all used; the draining agent is left out
    assert (shared.offer_id, shared.hostname, shared.role) == ("A1/*", "a1.local", "*")
    assert shared.attributes == {"rack": "r1", "gen": 4.0}
    assert shared.reserved == OfferAmounts()
    assert shared.unreserved == OfferAmounts(
        cpus=2.5, mem=4096, ports=((31000, 31002), (31005, 31009))
    )


@pytest.mark.parametrize(
    ("have", "used", "left"),
    [
        pytest.param([(1, 10)], [], ((1, 10),), id="nothing-used"),
        pytest.param([(1, 10)], [(1, 10)], (), id="all-used"),
        pytest.param([(1, 10)], [(4, 5), (9, 12)], ((1, 3), (6, 8)), id="holes"),
        pytest.param([(1, 3), (7, 9)], [(3, 7)], ((1, 2), (8, 9)), id="across"),
    ],
)
def test_subtract_ranges(
    have: list[tuple[int, int]], used: list[tuple[int, int]], left: tuple[tuple[int, int], ...]
) -> None:
    assert _subtract_ranges(have, used) == left


def test_new_instances_of_an_app_not_live_are_all_of_them() -> None:
    app = App.model_validate(
        {"metadata": {"name": "web", "domain": "shop"}, "spec": {"image": "x", "instances": 3}}
    )
    change = new_instances(app, None, [])
    assert (change.change, change.new) == (Change.CREATE, 3)
    fewer = app.model_copy(update={"spec": app.spec.model_copy(update={"instances": 1})})
    assert new_instances(fewer, app, []).change is Change.NONE
