"""The feed's streams on a manual clock: the snapshot first, coalesced updates, heartbeats,
events read only while a page is open, and every stream ended by ``close``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import pytest

from crds.app import App
from crds.domain import Domain
from crds.errors import Unavailable
from crds.events import Event, InvolvedObject
from crds.meta import Resource
from reconciler.dashboard.feed import DashboardSettings, Feed
from reconciler.dashboard.view import snapshot
from reconciler.runtime import ManualClock

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
DEADLINE = 5.0


def _app(name: str, instances: int) -> App:
    return App.model_validate(
        {
            "metadata": {"name": name, "domain": "shop"},
            "spec": {"image": "registry.example.com/a:1", "instances": instances},
        }
    )


class World:
    """What the feed reads: cached objects per kind, the events, the controller's role."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.objects: dict[str, list[Resource]] = {"App": [_app("web", 2)]}
        self.events: list[Event] = []
        self.reads = 0
        self.failing = False
        self.leader = True
        self.build_cost = 0.0  # seconds a build takes on the manual clock

    def cached(self, kind: str) -> list[Resource]:
        self.clock.advance(self.build_cost / 5)  # five kinds are listed per build
        return self.objects.get(kind, [])

    async def read_events(self) -> list[Event]:
        self.reads += 1
        if self.failing:
            raise Unavailable("etcd is unavailable")
        return list(self.events)

    def feed(self, **settings: Any) -> Feed:
        return Feed(
            objects=self.cached,
            events=self.read_events,
            controller=lambda: {"identity": "c-1", "leader": self.leader, "synced": True},
            settings=DashboardSettings(**settings),
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    return World(ManualClock())


async def _settle() -> None:
    """Let every task that can run, run (no time passes)."""
    for _ in range(50):
        await asyncio.sleep(0)


def _data(frame: str) -> dict[str, Any]:
    lines = frame.strip().splitlines()
    assert "event: snapshot" in lines, frame
    data: dict[str, Any] = json.loads(next(ln for ln in lines if ln.startswith("data: "))[6:])
    return data


async def _next(stream: AsyncGenerator[str, None]) -> asyncio.Task[str]:
    """The next frame, as a task that has run up to its wait."""
    task = asyncio.create_task(anext(stream), name="test:next-frame")
    await _settle()
    return task


async def _got(task: asyncio.Task[str]) -> str:
    async with asyncio.timeout(DEADLINE):
        return await task


async def test_a_stream_starts_with_the_whole_snapshot_events_included(world: World) -> None:
    world.events.append(
        Event(
            involved_object=InvolvedObject(kind="App", domain="shop", name="web"),
            reason="Scaled",
            message="to 2",
            first_timestamp=T0,
            last_timestamp=T0,
        )
    )
    feed = world.feed()
    stream = feed.stream()
    first = await anext(stream)
    assert first.startswith("retry: 1000\n")
    data = _data(first)
    assert [(a["name"], a["desired"]) for a in data["apps"]] == [("web", 2)]
    assert [e["reason"] for e in data["events"]] == ["Scaled"]
    assert data["controller"] == {"identity": "c-1", "leader": True, "synced": True}
    assert feed.clients == 1
    task = await _next(stream)
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await _got(task)
    assert feed.clients == 0


async def test_changes_within_the_interval_become_one_update(world: World) -> None:
    feed = world.feed(interval=0.25)
    stream = feed.stream()
    await anext(stream)
    task = await _next(stream)
    world.objects["App"] = [_app("web", 3)]
    feed.changed()
    world.objects["App"] = [_app("web", 4), _app("api", 1)]
    feed.changed()
    await _settle()
    world.clock.advance(0.2)
    await _settle()
    assert not task.done(), "no update sooner than the interval"
    world.clock.advance(0.05)
    data = _data(await _got(task))
    assert [(a["name"], a["desired"]) for a in data["apps"]] == [("api", 1), ("web", 4)]
    await stream.aclose()
    assert feed.clients == 0


async def test_a_change_that_alters_nothing_sends_nothing_and_silence_a_heartbeat(
    world: World,
) -> None:
    feed = world.feed(interval=0.25, heartbeat=15.0, events_interval=100.0)
    stream = feed.stream()
    await anext(stream)
    task = await _next(stream)
    feed.changed()  # e.g. an update that only moved a field the page does not show
    await _settle()
    world.clock.advance(1.0)
    await _settle()
    assert not task.done()
    world.clock.advance(14.0)
    assert await _got(task) == ": keep-alive\n\n"
    await stream.aclose()


async def test_events_are_read_only_while_a_page_is_open(world: World) -> None:
    feed = world.feed(events_interval=1.0)
    await feed.state()
    assert world.reads == 1, "a snapshot without a stream reads them once"
    stream = feed.stream()
    await anext(stream)
    assert world.reads == 2
    task = await _next(stream)
    world.events.append(
        Event(
            involved_object=InvolvedObject(kind="Host", name="h1"),
            reason="Drained",
            message="h1 is empty",
            first_timestamp=T0,
            last_timestamp=T0,
        )
    )
    world.clock.advance(1.0)
    await _settle()
    assert world.reads == 3
    data = _data(await _got(task))
    assert [e["object"] for e in data["events"]] == ["Host/h1"]
    await feed.state()
    assert world.reads == 3, "a stream keeps them fresh: no extra read"
    await stream.aclose()
    await _settle()
    world.clock.advance(10.0)
    await _settle()
    assert world.reads == 3, "no page open: no reads"


async def test_a_failing_events_read_keeps_the_rows_and_warns_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.events.append(
        Event(
            involved_object=InvolvedObject(kind="Host", name="h1"),
            reason="Drained",
            message="h1 is empty",
            first_timestamp=T0,
            last_timestamp=T0,
        )
    )
    feed = world.feed(events_interval=1.0)
    stream = feed.stream()
    await anext(stream)
    world.failing = True
    with caplog.at_level(logging.WARNING, logger="reconciler.dashboard.feed"):
        for _ in range(3):
            await _settle()
            world.clock.advance(1.0)
        await _settle()
    assert world.reads == 4
    assert len([r for r in caplog.records if "reading the events failed" in r.message]) == 1
    assert [e["reason"] for e in _data(f"event: snapshot\ndata: {feed.current()}")["events"]] == [
        "Drained"
    ]
    await stream.aclose()


async def test_a_change_of_leadership_reaches_the_page(world: World) -> None:
    feed = world.feed(events_interval=1.0)
    stream = feed.stream()
    await anext(stream)
    task = await _next(stream)
    world.leader = False
    world.clock.advance(1.0)
    data = _data(await _got(task))
    assert data["controller"]["leader"] is False
    await stream.aclose()


async def test_a_slow_build_spaces_the_updates_out(world: World) -> None:
    feed = world.feed(interval=0.25, build_share=5.0, events_interval=100.0)
    world.build_cost = 0.2  # each build takes 0.2 s: updates at least 1 s apart
    stream = feed.stream()
    await anext(stream)
    task = await _next(stream)
    world.objects["App"] = [_app("web", 9)]
    feed.changed()
    await _settle()
    world.clock.advance(0.5)
    await _settle()
    assert not task.done()
    world.clock.advance(0.5)
    assert [a["desired"] for a in _data(await _got(task))["apps"]] == [9]
    await stream.aclose()


def test_settings_refuse_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="intervals must be positive"):
        DashboardSettings(heartbeat=0)


async def test_the_text_is_the_views_snapshot_as_compact_json(world: World) -> None:
    def expected(feed: Feed) -> str:
        data = snapshot(
            domains=[o for o in world.objects.get("Domain", []) if isinstance(o, Domain)],
            hosts=[],
            apps=[o for o in world.objects["App"] if isinstance(o, App)],
            pools=[],
            agentsets=[],
            events=[],
            controller={"identity": "c-1", "leader": True, "synced": True},
        )
        return json.dumps(data, separators=(",", ":"))

    world.objects["App"] = [_app(f"a{i}", i) for i in (3, 1, 2)]
    world.objects["Domain"] = [Domain.model_validate({"metadata": {"name": "shop"}, "spec": {}})]
    feed = world.feed()
    assert feed.current() == expected(feed)
    world.objects["App"] = [*world.objects["App"][:2], _app("a2", 7), _app("b0", 1)]
    feed.changed()
    assert feed.current() == expected(feed)
    world.objects["App"] = world.objects["App"][1:]
    feed.changed()
    assert feed.current() == expected(feed)
