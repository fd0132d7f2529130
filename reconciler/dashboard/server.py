"""The dashboard's routes on the controller's metrics address, and how they are wired.

:func:`register` (called by ``dcos-controller`` unless ``--no-dashboard``)
takes the manager's informers of :data:`~reconciler.dashboard.feed.KINDS`
(one per kind, shared with the controllers, so it costs no extra watch
when a controller reads the kind too), hands every change to a
:class:`~reconciler.dashboard.feed.Feed` and mounts three GET routes on
the manager's :class:`~reconciler.runtime.metrics.MetricsServer`:

- ``/``: the page (:mod:`reconciler.dashboard.page`);
- ``/api/state``: the snapshot as JSON;
- ``/api/stream``: ``text/event-stream``, the snapshot then each update
  (:meth:`Feed.stream`); past ``max_clients`` streams it answers 503.

Everything is read-only: any other method is answered 405. Standby
replicas keep their informers watching, so every replica serves the same
page; the header says which one leads. A stream ends as soon as its client
disconnects (the response listens for ``http.disconnect`` while it writes)
and when the server stops, so a stop never waits for an open page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from prometheus_client import Gauge
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from crds.meta import Resource
from reconciler.dashboard.feed import KINDS, DashboardSettings, Feed
from reconciler.dashboard.page import PAGE, SECURITY_HEADERS
from reconciler.dashboard.view import Row

if TYPE_CHECKING:
    from reconciler.runtime.manager import Manager

__all__ = ["Dashboard", "register"]

logger = logging.getLogger(__name__)


class _EventStream(StreamingResponse):
    """A stream that stops at once when the client disconnects, not at its next write."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        async def pump() -> None:
            with contextlib.suppress(OSError):  # the connection broke: the client is gone
                await self.stream_response(send)

        tasks = [
            asyncio.create_task(pump(), name="dashboard:stream"),
            asyncio.create_task(gone(), name="dashboard:disconnect"),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()


class _Changed:
    """An informer handler that tells the feed something shown may have changed."""

    def __init__(self, feed: Feed) -> None:
        self._feed = feed

    def on_add(self, obj: Resource) -> None:
        self._feed.changed()

    def on_update(self, old: Resource, new: Resource) -> None:
        if old is not new:  # a resync hands the same object again: nothing changed
            self._feed.changed()

    def on_delete(self, obj: Resource) -> None:
        self._feed.changed()


class Dashboard:
    """The routes of one feed."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self._page, methods=["GET"]),
            Route("/api/state", self._state, methods=["GET"]),
            Route("/api/stream", self._stream, methods=["GET"]),
        ]

    async def _page(self, request: Request) -> Response:
        return HTMLResponse(PAGE, headers=SECURITY_HEADERS)

    async def _state(self, request: Request) -> Response:
        text = await self.feed.state()
        return Response(text, media_type="application/json", headers=SECURITY_HEADERS)

    async def _stream(self, request: Request) -> Response:
        if self.feed.closed:
            return JSONResponse({"error": "stopping"}, status_code=503)
        if self.feed.clients >= self.feed.settings.max_clients:
            limit = self.feed.settings.max_clients
            return JSONResponse(
                {"error": f"{limit} dashboard streams are open already"}, status_code=503
            )
        headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
        return _EventStream(self.feed.stream(), media_type="text/event-stream", headers=headers)


def register(manager: Manager, settings: DashboardSettings | None = None) -> Dashboard | None:
    """Serve the dashboard on the manager's metrics address (None when it serves none)."""
    server = manager.server
    if server is None:
        return None
    informers = {kind: manager.informer(kind) for kind in KINDS}

    def controller() -> Row:
        term = manager.elector.term
        return {
            "identity": manager.elector.identity,
            "leader": term is not None,
            "synced": all(i.has_synced for i in informers.values()),
        }

    feed = Feed(
        objects=lambda kind: informers[kind].list(),
        events=manager.store.events,
        controller=controller,
        settings=settings,
        clock=manager.clock,
    )
    handler = _Changed(feed)
    for informer in informers.values():
        informer.add_handler(handler)
    dashboard = Dashboard(feed)
    server.mount(dashboard.routes, on_stop=feed.close)
    clients = Gauge(
        "dcos_dashboard_clients",
        "Dashboard pages following the event stream now.",
        registry=manager.metrics.registry,
    )
    clients.set_function(lambda: feed.clients)
    return dashboard
