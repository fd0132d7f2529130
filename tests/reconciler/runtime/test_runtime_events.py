"""Recorder: events from controllers go to the store; failures never escape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.errors import Unavailable
from crds.events import Event, EventKind
from reconciler.runtime.events import Recorder
from tests.adapters.kinds import registered, widget

DEADLINE = 10.0


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


async def test_normal_and_warning_events_are_stored_with_their_source(store: EtcdStore) -> None:
    obj = await store.create(widget("web"))
    recorder = Recorder(store, "widget-controller")
    await recorder.normal(obj, "Scaled", "ready 1")
    await recorder.warning(obj, "FailedPlacement", "no agent has 4 cpus")
    await recorder.warning(obj, "FailedPlacement", "no agent has 4 cpus")
    events = {e.reason: e for e in await store.events(ObjectKey.of(obj))}
    assert events["Scaled"].type is EventKind.NORMAL
    assert events["Scaled"].source == "widget-controller"
    assert events["Scaled"].involved_object.uid == obj.metadata.uid
    assert events["FailedPlacement"].type is EventKind.WARNING
    assert events["FailedPlacement"].count == 2


class _DownStore:
    async def record_event(self, event: Event) -> None:
        raise Unavailable("etcd at http://127.0.0.1:1 is unavailable")


async def test_a_failed_record_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(_DownStore(), "widget-controller")  # type: ignore[arg-type]
    await recorder.normal(widget("web"), "Scaled", "ready 1")
    assert "could not record event Scaled" in caplog.text


async def test_emitted_events_are_written_in_the_background_in_batches(
    store: EtcdStore,
) -> None:
    obj = await store.create(widget("web"))
    recorder = Recorder(store, "widget-controller")
    for _ in range(3):
        recorder.emit(obj, EventKind.NORMAL, "Scaled", "ready 1")
    recorder.emit(obj, EventKind.WARNING, "FailedPlacement", "no agent has 4 cpus")
    async with asyncio.timeout(DEADLINE):
        await recorder.flush()
    events = {e.reason: e for e in await store.events(ObjectKey.of(obj))}
    assert events["Scaled"].count == 3
    assert events["Scaled"].source == "widget-controller"
    assert events["FailedPlacement"].type is EventKind.WARNING


class _DownBatchStore:
    async def record_events(self, events: list[Event]) -> None:
        raise Unavailable("etcd at http://127.0.0.1:1 is unavailable")


async def test_a_failed_background_write_is_logged_and_later_events_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(_DownBatchStore(), "widget-controller", buffer=2)  # type: ignore[arg-type]
    for n in range(4):  # two are pushed out of the buffer before the writer runs
        recorder.emit(widget("web"), EventKind.NORMAL, "Scaled", f"ready {n}")
    async with asyncio.timeout(DEADLINE):
        await recorder.flush()
    assert "2 event(s) dropped" in caplog.text
    assert "could not record 2 event(s)" in caplog.text
    recorder.emit(widget("web"), EventKind.NORMAL, "Scaled", "ready 5")
    async with asyncio.timeout(DEADLINE):
        await recorder.flush()
    assert "could not record 1 event(s)" in caplog.text
