"""reconciler.sync.watch: folder changes and object writes each start a sync; a wrong
file is reported and the loop goes on with the last good folder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.errors import DcosError, SpecError
from reconciler.apps.rollout_view import scale_app
from reconciler.runtime.clock import ManualClock
from reconciler.sync import SourceRevision, SyncResult, watch_folder

WEB = ObjectKey("App", "shop", "web")
DEADLINE = 10.0


def app_doc(instances: int) -> str:
    return (
        "apiVersion: dcos/v1\nkind: App\nmetadata: {name: web, domain: shop}\n"
        f"spec: {{image: 'shop/web:1', instances: {instances}}}\n"
    )


async def until(check: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def instances(store: EtcdStore) -> int | None:
    try:
        app = await store.get(WEB)
    except DcosError:
        return None
    assert isinstance(app, App)
    return app.spec.instances


async def test_watch_follows_the_folder_and_heals_drift(store: EtcdStore, tmp_path: Path) -> None:
    path = tmp_path / "specs"
    path.mkdir()
    (path / "web.yaml").write_text(app_doc(3))
    changes: asyncio.Queue[object] = asyncio.Queue()
    reports: list[SyncResult | DcosError] = []

    async def follow() -> AsyncIterator[object]:
        while True:
            yield await changes.get()

    task = asyncio.create_task(
        watch_folder(
            store,
            path,
            name="specs",
            changes=follow(),
            report=reports.append,
            clock=ManualClock(),
            now=lambda: datetime(2026, 11, 11, tzinfo=UTC),
            self_heal=True,
            revision=lambda _: SourceRevision("c0ffee", False),
        )
    )
    try:
        await until(lambda: len(reports) >= 1, "the first sync")
        assert await instances(store) == 3

        (path / "web.yaml").write_text(app_doc(3).replace("instances: 3", "instances: [3]"))
        changes.put_nowait("changed")
        await until(lambda: any(isinstance(r, SpecError) for r in reports), "the error")
        error = next(r for r in reports if isinstance(r, SpecError))
        assert str(error).startswith(f"{path / 'web.yaml'}: document 1: spec.instances: ")
        assert await instances(store) == 3

        await scale_app(store, WEB, 9)  # drift while the folder is wrong: the last good one rules
        seen = len(reports)

        def healed() -> bool:
            return any(isinstance(r, SyncResult) and r.drift for r in reports[seen:])

        await until(healed, "the drift to be put back")
        assert await instances(store) == 3
        result = next(r for r in reports[seen:] if isinstance(r, SyncResult) and r.drift)
        assert [d.key for d in result.drift] == [WEB] and result.healed

        (path / "web.yaml").write_text(app_doc(5))
        seen = len(reports)
        changes.put_nowait("changed")
        await until(
            lambda: any(isinstance(r, SyncResult) and r.written for r in reports[seen:]), "the fix"
        )
        assert await instances(store) == 5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
