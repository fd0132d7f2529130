"""rollout status / history / undo against the run's etcd, with status and rollout
state seeded through the store as the App controller writes them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import Result

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App, AppSpec
from crds.meta import Condition, ConditionStatus
from localcluster.etcd import free_port
from reconciler.apps import Revision, RevisionOutcome, RolloutPhase, RolloutState, spec_version
from reconciler.apps.records import rollout_path
from reconciler.apps.rollout_view import Phase, change_between, progress_of

Cli = Callable[..., Result]
AsyncCli = Callable[..., Awaitable[Result]]
ErrorCheck = Callable[..., str]
KEY = ObjectKey("App", "shop", "web")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def spec(image: str, **fields: object) -> AppSpec:
    return AppSpec.model_validate({"image": image, "instances": 3, **fields})


async def create(store: EtcdStore, image: str = "web:2") -> App:
    app = App(metadata={"name": "web", "domain": "shop"}, spec=spec(image))
    created = await store.create(app)
    assert isinstance(created, App)
    return created


async def set_status(
    store: EtcdStore, *, updated: int, ready: int, reason: str, status: str = "True"
) -> None:
    app = await store.get(KEY)
    assert isinstance(app, App)
    condition = Condition(
        type="Progressing",
        status=ConditionStatus(status),
        reason=reason,
        message=f"{reason} message",
    )
    new = app.status.model_copy(
        update={
            "observed_generation": app.metadata.generation,
            "updated_instances": updated,
            "ready_instances": ready,
            "revision": 2,
            "conditions": [condition],
        }
    )
    await store.update_status(app.model_copy(update={"status": new}))


async def seed_history(store: EtcdStore) -> RolloutState:
    one, two = spec("web:1", cpus=0.5), spec("web:2", cpus=0.5)
    state = RolloutState(
        revision=2,
        target_version=spec_version(two),
        previous_version=spec_version(one),
        phase=RolloutPhase.COMPLETE,
        history=(
            Revision(
                revision=1,
                version=spec_version(one),
                spec=one.model_dump(mode="json", by_alias=True, exclude_none=True),
                created_at=NOW - timedelta(hours=3),
                outcome=RevisionOutcome.COMPLETE,
            ),
            Revision(
                revision=2,
                version=spec_version(two),
                spec=two.model_dump(mode="json", by_alias=True, exclude_none=True),
                created_at=NOW - timedelta(hours=1),
                outcome=RevisionOutcome.COMPLETE,
            ),
        ),
    )
    await store.put_raw(rollout_path("shop", "web"), state.to_json().encode())
    return state


@pytest.fixture
def cli(etcd_endpoint: str, etcd_prefix: str, run_cli: Cli) -> AsyncCli:
    """dcosctl on a thread, so the test's loop keeps serving the store meanwhile."""

    async def invoke(*args: str) -> Result:
        call = ("--etcd", etcd_endpoint, "--prefix", etcd_prefix, *args)
        return await asyncio.to_thread(run_cli, *call)

    return invoke


# ----------------------------------------------------------------- status


async def test_status_follows_until_complete(store: EtcdStore, cli: AsyncCli) -> None:
    await create(store)
    await set_status(store, updated=1, ready=0, reason="NewVersionRollingOut")
    waiting = asyncio.ensure_future(cli("rollout", "status", "app/web", "-d", "shop"))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await set_status(store, updated=3, ready=2, reason="NewVersionRollingOut")
    await set_status(store, updated=3, ready=3, reason="RolloutComplete")
    result = await asyncio.wait_for(waiting, 20)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("App/shop/web: 1 of 3 updated, 0 healthy (revision 2)")
    assert any("3 of 3 updated, 3 healthy" in line for line in lines)
    assert lines[-1] == "App/shop/web successfully rolled out"


async def test_status_of_a_failed_rollout_exits_1(
    store: EtcdStore, cli: AsyncCli, check_error: ErrorCheck
) -> None:
    await create(store)
    await set_status(store, updated=1, ready=0, reason="ProgressDeadlineExceeded", status="False")
    result = await cli("rollout", "status", "app", "web", "-d", "shop")
    line = check_error(result)
    assert "rollout failed" in line and "ProgressDeadlineExceeded" in line


async def test_status_times_out(store: EtcdStore, cli: AsyncCli, check_error: ErrorCheck) -> None:
    await create(store)
    await set_status(store, updated=1, ready=0, reason="NewVersionRollingOut")
    result = await cli("rollout", "status", "app/web", "-d", "shop", "--timeout", "0.3")
    assert "not finished after 0.3s" in check_error(result)


async def test_status_waits_for_the_current_generation(store: EtcdStore) -> None:
    app = await create(store)
    stale = app.model_copy(
        update={
            "metadata": app.metadata.model_copy(update={"generation": 2}),
            "status": app.status.model_copy(update={"observed_generation": 1}),
        }
    )
    assert progress_of(stale).phase is Phase.WAITING


def _with_conditions(app: App, *conditions: tuple[str, str, str]) -> App:
    status = app.status.model_copy(
        update={
            "observed_generation": app.metadata.generation,
            "conditions": [
                Condition(type=t, status=ConditionStatus(s), reason=r) for t, s, r in conditions
            ],
        }
    )
    return app.model_copy(update={"status": status})


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        pytest.param([], Phase.PROGRESSING, id="no-condition"),
        pytest.param(
            [("Progressing", "True", "NewVersionRollingOut")], Phase.PROGRESSING, id="going"
        ),
        pytest.param([("Progressing", "True", "RolloutComplete")], Phase.COMPLETE, id="complete"),
        pytest.param(
            [("Progressing", "False", "ProgressDeadlineExceeded")], Phase.FAILED, id="deadline"
        ),
        pytest.param(
            [("Progressing", "False", "CapacityBoundsBlocked")], Phase.PROGRESSING, id="blocked"
        ),
        pytest.param(
            [("Progressing", "True", "RollingBack"), ("Degraded", "True", "RolledBack")],
            Phase.FAILED,
            id="rolling-back",
        ),
        pytest.param(
            [("Progressing", "True", "RolloutComplete"), ("Degraded", "True", "RolledBack")],
            Phase.FAILED,
            id="rolled-back",
        ),
    ],
)
async def test_progress_phase_from_conditions(
    store: EtcdStore, conditions: list[tuple[str, str, str]], phase: Phase
) -> None:
    app = await create(store)
    assert progress_of(_with_conditions(app, *conditions)).phase is phase


# ---------------------------------------------------------------- history


async def test_history_lists_revisions(store: EtcdStore, cli: AsyncCli) -> None:
    await create(store)
    state = await seed_history(store)
    result = await cli("rollout", "history", "app/web", "-d", "shop")
    assert result.exit_code == 0, result.output
    header, first, second = result.stdout.splitlines()
    assert header.split() == ["REVISION", "VERSION", "WHEN", "OUTCOME", "CHANGE"]
    assert first.split()[:2] == ["1", state.history[0].version]
    assert first.split()[-2:] == ["Complete", "image=web:1"]
    assert second.split()[:3] == ["2", "*", state.history[1].version]
    assert second.endswith("image=web:2")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(None, {"image": "a"}, "image=a", id="first"),
        pytest.param({"image": "a"}, {"image": "b"}, "image=b", id="image"),
        pytest.param({"image": "a", "cpus": 1}, {"image": "a", "cpus": 2}, "cpus", id="field"),
        pytest.param({"image": "a"}, {"image": "a"}, "no spec change", id="same"),
    ],
)
def test_change_between(
    before: dict[str, object] | None, after: dict[str, object], expected: str
) -> None:
    assert change_between(before, after) == expected


async def test_history_without_state_is_one_line(
    store: EtcdStore, cli: AsyncCli, check_error: ErrorCheck
) -> None:
    await create(store)
    result = await cli("rollout", "history", "app/web", "-d", "shop")
    assert "no rollout history" in check_error(result)


# ------------------------------------------------------------------- undo


async def test_undo_writes_the_previous_revision_back(store: EtcdStore, cli: AsyncCli) -> None:
    await create(store)
    await seed_history(store)
    live = await store.get(KEY)
    assert isinstance(live, App)
    scaled = live.model_copy(update={"spec": live.spec.model_copy(update={"instances": 7})})
    await store.update(scaled)
    result = await cli("rollout", "undo", "app/web", "-d", "shop")
    assert result.exit_code == 0, result.output
    assert result.stdout == "App/shop/web rolled back to revision 1\n"
    got = await store.get(KEY)
    assert isinstance(got, App)
    assert got.spec.image == "web:1" and got.spec.cpus == 0.5
    assert got.spec.instances == 7  # today's scale is kept


async def test_undo_to_a_revision(store: EtcdStore, cli: AsyncCli) -> None:
    await create(store, image="web:3")
    await seed_history(store)
    result = await cli("rollout", "undo", "app/web", "-d", "shop", "--to-revision", "2")
    assert result.stdout == "App/shop/web rolled back to revision 2\n"
    got = await store.get(KEY)
    assert isinstance(got, App) and got.spec.image == "web:2"


async def test_undo_to_an_unknown_revision_is_one_line(
    store: EtcdStore, cli: AsyncCli, check_error: ErrorCheck
) -> None:
    await create(store)
    await seed_history(store)
    result = await cli("rollout", "undo", "app/web", "-d", "shop", "--to-revision", "9")
    assert "revision 9 not found (known: 1, 2)" in check_error(result)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize("command", ["status", "history", "undo"])
def test_unknown_app_is_one_line(dcosctl: Cli, check_error: ErrorCheck, command: str) -> None:
    assert "not found" in check_error(dcosctl("rollout", command, "app/nope", "-d", "shop"))


@pytest.mark.parametrize("command", ["status", "history", "undo"])
def test_etcd_down_is_one_line(run_cli: Cli, check_error: ErrorCheck, command: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        "--etcd", endpoint, "--timeout", "0.5", "rollout", command, "app/web", "-d", "x"
    )
    assert endpoint in check_error(result)


def test_a_kind_other_than_app_is_a_usage_error(dcosctl: Cli, check_error: ErrorCheck) -> None:
    assert "App" in check_error(dcosctl("rollout", "history", "domain/shop"), 2)
