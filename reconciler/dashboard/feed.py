"""The dashboard's feed: one snapshot of the page, rebuilt when something changes, and
the server-sent event stream every open page follows.

A :class:`Feed` is told of every change by the informers' handlers
(:meth:`Feed.changed`, which only counts it and wakes the streams) and
builds the snapshot (:func:`reconciler.dashboard.view.snapshot`) lazily:
at most once per change count, however many pages are open, and only
while someone looks. Events are not objects the informers cache, so while
at least one stream is open a task (``dashboard:events``) reads them from
the store every ``events_interval`` seconds, and counts a change when the
rows shown differ; the same task notices a change of leadership.

The snapshot's text is :func:`~reconciler.dashboard.view.snapshot` as
compact JSON, put together from each object's row: a Domain, App or
IPPool that the informer still holds as the same (immutable) object keeps
the JSON of its row from the previous build, so a change to one App of ten
thousand serialises one row, not ten thousand.

Each stream (:meth:`Feed.stream`) yields SSE frames:

- ``retry`` and a full ``snapshot`` at once;
- after a change, another full ``snapshot``, no sooner than ``interval``
  seconds after the previous one, so a burst of changes becomes one update
  (coalescing), and only when the page's text differs;
- a comment every ``heartbeat`` seconds of silence, so proxies keep the
  connection and a client that went away is noticed by the write.

Rebuilding costs time on the controller's event loop: the gap between two
updates grows to ``build_share`` times as long as the last build took, so
the snapshots take at most about ``1 / build_share`` of the loop however
large the data center. A stream ends when its client goes away (the
response stops iterating it) or on :meth:`Feed.close`; either way it leaves
the set of clients, and the events task stops with the last one.

The next hop is :mod:`reconciler.dashboard.server`, which serves the streams.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crds.errors import DcosError
from crds.events import Event
from crds.meta import Resource
from reconciler.dashboard.view import (
    Row,
    app_row,
    domain_row,
    event_rows,
    host_rows,
    pool_row,
)
from reconciler.runtime.clock import Clock, MonotonicClock

__all__ = ["KINDS", "DashboardSettings", "Feed"]

logger = logging.getLogger(__name__)

KINDS = ("Domain", "Host", "App", "IPPool", "AgentSet")
"""The kinds the page shows (AgentSets for the hosts' agents)."""


@dataclass(frozen=True)
class DashboardSettings:
    interval: float = 0.25
    """The least seconds between two updates of one page (changes in between coalesce)."""
    heartbeat: float = 15.0
    """Seconds of silence after which a stream sends a comment."""
    events_interval: float = 1.0
    """Seconds between two reads of the events while a page is open."""
    events_timeout: float = 5.0
    """Seconds one read of the events may take."""
    max_clients: int = 100
    """Streams open at once; more are refused with 503."""
    build_share: float = 5.0
    """The gap between updates is at least this many times the last build's duration."""

    def __post_init__(self) -> None:
        if self.interval < 0 or self.heartbeat <= 0 or self.events_interval <= 0:
            raise ValueError("DashboardSettings: intervals must be positive")


Objects = Callable[[str], Sequence[Resource]]
"""The cached objects of a kind (an informer's ``list``)."""
Events = Callable[[], Awaitable[list[Event]]]
"""The recent events, oldest first (``Store.events``)."""
Controller = Callable[[], Row]
"""Which replica serves the page: identity, whether it leads, whether its caches synced."""


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _frame(text: str, *, event: str = "snapshot") -> str:
    return f"event: {event}\ndata: {text}\n\n"


class Feed:
    """The snapshot of the page and the streams that follow it (see the module's docstring)."""

    def __init__(
        self,
        *,
        objects: Objects,
        events: Events,
        controller: Controller,
        settings: DashboardSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or DashboardSettings()
        self._objects = objects
        self._events = events
        self._controller = controller
        self._clock = clock or MonotonicClock()
        self.version = 0
        """Changes counted so far; a snapshot is rebuilt only when it moved."""
        self._wakes: set[asyncio.Event] = set()  # one per open stream
        self._event_rows: list[Row] = []
        self._events_failing = False
        self._poller: asyncio.Task[None] | None = None  # runs while _wakes is not empty
        self._cached: tuple[tuple[int, str], str] | None = None  # ((version, controller), text)
        self._fragments: dict[str, dict[tuple[str, str], tuple[Resource, str]]] = {}
        """Per kind, (domain, name) -> (the object, its row as JSON), from the last build."""
        self._gap = self.settings.interval
        self._closed = False

    @property
    def clients(self) -> int:
        """Streams open now."""
        return len(self._wakes)

    @property
    def closed(self) -> bool:
        return self._closed

    def changed(self) -> None:
        """Something shown may have changed: wake every stream."""
        self.version += 1
        for wake in self._wakes:
            wake.set()

    def close(self) -> None:
        """End every stream now (the server is stopping)."""
        self._closed = True
        self.changed()
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    def current(self) -> str:
        """The snapshot as JSON text, rebuilt only when something changed since the last."""
        controller = self._controller()
        key = (self.version, json.dumps(controller, sort_keys=True))
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        started = self._clock.now()
        domains = self._kind("Domain")
        parts = {
            "controller": _json(controller),
            "domains": self._rows("Domain", domains, domain_row),
            "hosts": _json(host_rows(self._kind("Host"), domains, self._kind("AgentSet"))),
            "apps": self._rows("App", self._kind("App"), app_row),
            "pools": self._rows("IPPool", self._kind("IPPool"), pool_row),
            "events": _json(self._event_rows),
        }
        text = "{" + ",".join(f'"{name}":{part}' for name, part in parts.items()) + "}"
        took = self._clock.now() - started
        self._gap = max(self.settings.interval, self.settings.build_share * took)
        self._cached = (key, text)
        return text

    def _kind(self, kind: str) -> list[Any]:
        return list(self._objects(kind))

    def _rows(self, kind: str, objects: Sequence[Any], row: Callable[[Any], Row]) -> str:
        """The JSON array of ``row(obj)`` by domain and name; an object the informer still
        holds as the same instance (unchanged: cached objects are immutable) reuses its text."""
        before = self._fragments.get(kind, {})
        after: dict[tuple[str, str], tuple[Resource, str]] = {}
        for obj in objects:
            key = (obj.metadata.domain or "", obj.metadata.name)
            known = before.get(key)
            after[key] = known if known is not None and known[0] is obj else (obj, _json(row(obj)))
        self._fragments[kind] = after
        return "[" + ",".join(after[key][1] for key in sorted(after)) + "]"

    async def state(self) -> str:
        """The snapshot, with events read now unless a stream keeps them fresh."""
        if self._poller is None:
            await self.refresh_events()
        return self.current()

    async def refresh_events(self) -> None:
        """Read the events; a change of the rows shown (or of leadership) wakes the streams.
        A failed read keeps the rows shown before and is logged once per failing spell."""
        try:
            async with asyncio.timeout(self.settings.events_timeout):
                found = await self._events()
        except (DcosError, TimeoutError) as exc:
            if not self._events_failing:
                logger.warning("dashboard: reading the events failed (%s); retrying", exc)
            self._events_failing = True
            return
        self._events_failing = False
        rows = event_rows(found)
        if rows != self._event_rows:
            self._event_rows = rows
            self.changed()

    async def _poll(self) -> None:
        controller = json.dumps(self._controller(), sort_keys=True)
        while True:
            await self._clock.sleep(self.settings.events_interval)
            await self.refresh_events()
            now = json.dumps(self._controller(), sort_keys=True)
            if now != controller:
                controller = now
                self.changed()

    async def _wait(self, wake: asyncio.Event, seconds: float) -> None:
        """Until ``wake`` is set (a change, or :meth:`close`) or ``seconds`` have passed."""
        wake.clear()
        timer = self._clock.call_later(seconds, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()

    async def stream(self) -> AsyncGenerator[str, None]:
        """SSE frames for one page until :meth:`close` (or the caller stops iterating)."""
        wake = asyncio.Event()
        self._wakes.add(wake)
        try:
            if self._poller is None:
                await self.refresh_events()
                if self._poller is None and self._wakes:
                    self._poller = asyncio.create_task(self._poll(), name="dashboard:events")
            seen, text = self.version, self.current()
            yield f"retry: 1000\n{_frame(text)}"
            last_write = last_update = self._clock.now()
            while not self._closed:
                if self.version == seen:
                    await self._wait(wake, last_write + self.settings.heartbeat - self._clock.now())
                    if self._closed:
                        break
                if self.version != seen:
                    early = last_update + self._gap - self._clock.now()
                    if early > 0:
                        await self._clock.sleep(early)
                        if self._closed:
                            break
                seen, latest = self.version, self.current()
                if latest != text:
                    text = latest
                    last_write = last_update = self._clock.now()
                    yield _frame(text)
                elif self._clock.now() - last_write >= self.settings.heartbeat:
                    last_write = self._clock.now()
                    yield ": keep-alive\n\n"
        finally:
            self._wakes.discard(wake)
            if not self._wakes and self._poller is not None:
                self._poller.cancel()  # it ends at its next await; nothing waits for it
                self._poller = None
