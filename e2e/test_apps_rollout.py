"""A rollout to an image the engine does not have: failed at the deadline, then rolled back.

The stack of ``test_apps_docker.py``: the test's etcd, the local master with
docker agents on the private engine, the installed ``dcos-controller`` and
``dcosctl``. A good version runs; the App then names an image the engine
does not have, so every launch of the new version is TASK_FAILED by the
docker containerizer with a message naming the image. With a short
``progressDeadlineSeconds`` the rollout fails within seconds, and either
the controller rolls back by itself (``upgradeStrategy.autoRollback``) or
``dcosctl rollout undo`` does, ``dcosctl rollout status`` telling failed
(exit 1) from done (exit 0). The capacity bounds are checked at every
revision of the instance records throughout.
"""

from __future__ import annotations

import time

from adapters.docker import DockerEngine
from e2e.harness import (
    CapacityWatch,
    Stack,
    app_manifest,
    conditions,
    domain_manifest,
    instance_records,
    manifest,
    rolled_out,
)
from reconciler.apps.version import spec_version

N = 2
DEADLINE = 3
MISSING = "dcos-test/absent:2"
MIN_HEALTH = MAX_OVER = 0.5


def web(image: str, *, auto_rollback: bool) -> str:
    return app_manifest(
        "web",
        image=image,
        instances=N,
        min_health=MIN_HEALTH,
        max_over=MAX_OVER,
        auto_rollback=auto_rollback,
        progress_deadline=DEADLINE,
    )


def capacity_watch(stack: Stack) -> CapacityWatch:
    return CapacityWatch(
        stack.store,
        domain="shop",
        name="web",
        instances=N,
        min_health=MIN_HEALTH,
        max_over=MAX_OVER,
    )


async def good_version_runs(stack: Stack, image: str, *, auto: bool) -> str:
    """Apply the Domain and a good ``web``; its version once every instance is healthy."""
    stack.apps.append(("shop", "web"))
    await stack.apply(manifest(domain_manifest(), web(image, auto_rollback=auto)))
    await stack.until("the good version to run", lambda: rolled_out(stack.store, "shop", "web"))
    return spec_version((await stack.app("shop", "web")).spec)


async def assert_back_on(stack: Stack, engine: DockerEngine, version: str) -> None:
    """Every record and every container of ``web`` is of ``version``, N of them, healthy."""
    records = [i for i in await instance_records(stack.store, "shop", "web") if i.is_active]
    assert len(records) == N
    assert all(i.version == version and i.is_healthy for i in records)
    containers = await engine.containers(labels={"dcos/app": "web", "dcos/domain": "shop"})
    assert sorted(c.labels["dcos.task_id"] for c in containers) == sorted(
        i.instance_id for i in records
    )
    assert {c.labels["dcos/version"] for c in containers} == {version}


async def test_missing_image_fails_at_the_deadline_and_auto_rollback_restores_the_good_version(
    docker_stack: Stack, docker_engine: DockerEngine, busybox_image: str
) -> None:
    stack = docker_stack
    good = await good_version_runs(stack, busybox_image, auto=True)
    failures: set[str] = set()

    async with capacity_watch(stack) as watch:
        # before the apply: the controller's deadline starts during it, never earlier
        applied = time.monotonic()
        await stack.apply(web(MISSING, auto_rollback=True))
        bad = spec_version((await stack.app("shop", "web")).spec)

        async def rolled_back() -> bool:
            app = await stack.app("shop", "web")
            if app.status.last_failure_message:
                failures.add(app.status.last_failure_message)
            return conditions(app).get("Degraded") == ("True", "RolledBack") and await rolled_out(
                stack.store, "shop", "web", good
            )

        await stack.until("the rollback to the good version", rolled_back)
        took = time.monotonic() - applied

    assert took >= DEADLINE, f"rolled back after {took:.1f}s, before the deadline"
    assert any(MISSING in message for message in failures), failures
    assert watch.violations == [], await stack.describe()
    assert any(bad in versions for versions in watch.versions.values())  # it was tried
    await assert_back_on(stack, docker_engine, good)
    app = await stack.app("shop", "web")
    assert app.spec.image == MISSING  # the spec is the user's; the controller only rolled back
    degraded = next(c for c in app.status.conditions if c.type == "Degraded")
    why = app.status.last_failure_message  # the bad version's last task failure, kept
    assert why is not None and MISSING in why, why
    assert degraded.message == f"{bad} failed to roll out ({why}); running {good} instead"

    status = await stack.ctl("rollout", "status", "app/web", "-d", "shop", "--timeout", "10")
    assert status.code == 1, status
    assert "rolled back" in status.err
    history = await stack.ctl("rollout", "history", "app/web", "-d", "shop")
    assert history.code == 0, history.err
    assert "RolledBack" in history.out and f"image={MISSING}" in history.out

    async def rollback_event() -> bool:  # events are written in the background
        listed = await stack.ctl("events", "app", "web", "-d", "shop")
        return listed.code == 0 and "RolledBack" in listed.out

    await stack.until("a RolledBack event", rollback_event)
    listed = await stack.ctl("events", "app", "web", "-d", "shop")
    line = next(x for x in listed.out.splitlines() if "RolledBack" in x)
    assert bad in line and MISSING in line, listed.out


async def test_missing_image_fails_the_rollout_and_undo_brings_the_good_version_back(
    docker_stack: Stack, docker_engine: DockerEngine, busybox_image: str
) -> None:
    stack = docker_stack
    good = await good_version_runs(stack, busybox_image, auto=False)

    async with capacity_watch(stack) as watch:
        await stack.apply(web(MISSING, auto_rollback=False))
        failed = await stack.ctl("rollout", "status", "app/web", "-d", "shop", "--timeout", "20")
        assert failed.code == 1, failed
        assert "rollout failed" in failed.err and "no progress before the deadline" in failed.err

        app = await stack.app("shop", "web")
        assert conditions(app)["Progressing"] == ("False", "ProgressDeadlineExceeded")
        assert conditions(app)["Degraded"] == ("True", "InstanceFailures")
        assert MISSING in (app.status.last_failure_message or "")
        assert app.status.healthy_instances == 1  # minimumHealthCapacity 0.5 of 2 kept

        undo = await stack.ctl("rollout", "undo", "app/web", "-d", "shop")
        assert undo.code == 0, undo.err
        assert "rolled back to revision 1" in undo.out
        done = await stack.ctl("rollout", "status", "app/web", "-d", "shop", "--timeout", "20")
        assert done.code == 0, done
        assert "successfully rolled out" in done.out
        await stack.until("the good version", lambda: rolled_out(stack.store, "shop", "web", good))

    assert watch.violations == [], await stack.describe()
    await assert_back_on(stack, docker_engine, good)
    app = await stack.app("shop", "web")
    assert app.spec.image == busybox_image
    assert conditions(app)["Degraded"] == ("False", "AsExpected")
