"""Recorder: events from controllers go to the store; failures never escape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.errors import Unavailable
from crds.events import Event, EventKind
from reconciler.runtime.events import Recorder
from tests.adapters.kinds import registered, widget


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
