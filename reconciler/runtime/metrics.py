"""Prometheus metrics and the health endpoint of a controller manager.

:class:`RuntimeMetrics` owns one ``CollectorRegistry`` (not the global one,
so two managers in one process, as in tests, do not collide) with:

- work queues: ``dcos_workqueue_depth``, ``dcos_workqueue_adds_total``,
  ``dcos_workqueue_retries_total`` (label ``name``: the controller);
- reconciles: ``dcos_controller_reconcile_total`` (``controller``, ``result``:
  success, error, terminal, requeue, requeue_after),
  ``dcos_controller_reconcile_errors_total``,
  ``dcos_controller_reconcile_time_seconds`` (histogram),
  ``dcos_controller_active_workers``;
- informers: ``dcos_informer_synced``, ``dcos_informer_watch_errors_total``
  (label ``kind``);
- leader election: ``dcos_leader`` (1 while this process leads);
- the event loop: ``dcos_event_loop_lag_seconds`` (histogram), how late a
  timer set every 0.1 s fired (:func:`sample_loop_lag`): the time a watch
  event or a reconcile can wait for whatever holds the loop;
- for the Mesos controllers: ``dcos_launches_total``, ``dcos_kills_total``.

:class:`MetricsServer` serves ``/metrics`` and ``/healthz`` (starlette on
uvicorn) on a socket it binds itself, so a taken port is a plain ``OSError``
for the caller, and it leaves signal handling to the process. It stops at
once: uvicorn polls its exit flag every 0.1 s and then gives connections a
grace period, which would make up most of a ``dcos-controller`` stop; its
answers are quick reads, so :meth:`MetricsServer.stop` wakes it and the
listening socket and idle connections are closed without waiting.
:meth:`MetricsServer.mount` adds more read-only routes on the same address
(the dashboard, :mod:`reconciler.dashboard`), with a callback that ends
their long answers (event streams) when the server stops.

The next hop is :mod:`reconciler.runtime.manager`, which builds both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["HealthCheck", "MetricsServer", "RuntimeMetrics", "parse_addr", "sample_loop_lag"]

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]
"""Returns (healthy, detail); detail is served as JSON."""

_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
LAG_INTERVAL = 0.1
"""Seconds between two samples of the event loop's lag."""


class _BoundQueueMetrics:
    """The queue metrics of one controller (implements ``QueueMetrics``)."""

    def __init__(self, metrics: RuntimeMetrics, name: str) -> None:
        self._adds = metrics.queue_adds.labels(name)
        self._retries = metrics.queue_retries.labels(name)
        self._depth = metrics.queue_depth.labels(name)

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def depth(self, value: int) -> None:
        self._depth.set(value)


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queue_depth = Gauge(
            "dcos_workqueue_depth", "Keys waiting in the work queue.", ["name"], registry=r
        )
        self.queue_adds = Counter(
            "dcos_workqueue_adds", "Adds to the work queue.", ["name"], registry=r
        )
        self.queue_retries = Counter(
            "dcos_workqueue_retries", "Rate-limited re-adds (retries).", ["name"], registry=r
        )
        self.reconcile_total = Counter(
            "dcos_controller_reconcile",
            "Reconciles by result.",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "dcos_controller_reconcile_errors",
            "Reconciles that raised.",
            ["controller"],
            registry=r,
        )
        self.reconcile_time = Histogram(
            "dcos_controller_reconcile_time_seconds",
            "Time one reconcile took.",
            ["controller"],
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        self.active_workers = Gauge(
            "dcos_controller_active_workers",
            "Workers running a reconcile now.",
            ["controller"],
            registry=r,
        )
        self.informer_synced = Gauge(
            "dcos_informer_synced", "1 once the informer has listed.", ["kind"], registry=r
        )
        self.watch_errors = Counter(
            "dcos_informer_watch_errors",
            "List or watch failures (each retried with backoff).",
            ["kind"],
            registry=r,
        )
        self.leader = Gauge("dcos_leader", "1 while this process is the leader.", registry=r)
        self.launches = Counter("dcos_launches", "Tasks launched on Mesos.", registry=r)
        self.kills = Counter("dcos_kills", "Tasks killed on Mesos.", registry=r)
        self.loop_lag = Histogram(
            "dcos_event_loop_lag_seconds",
            f"How late a timer of the event loop fired (one every {LAG_INTERVAL} s).",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

    def queue(self, name: str) -> _BoundQueueMetrics:
        return _BoundQueueMetrics(self, name)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


async def sample_loop_lag(metrics: RuntimeMetrics, *, interval: float = LAG_INTERVAL) -> None:
    """Until cancelled: sleep ``interval`` seconds, observe how much later than that
    the loop woke us. A stall of the loop longer than ``interval`` is always seen."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        metrics.loop_lag.observe(max(0.0, loop.time() - started - interval))


def parse_addr(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) to a tuple; ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"address {text!r} is not host:port")
    return host.strip("[]"), int(port)


class _Server(uvicorn.Server):
    """uvicorn without its signal capture (the process owns SIGTERM/SIGINT), woken
    by :meth:`wake` instead of polling its exit flag, and without a shutdown grace."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wakeup: asyncio.Event | None = None  # made in the serving loop

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    async def main_loop(self) -> None:
        """Tick once a second (the Date header) until :meth:`wake` after ``should_exit``."""
        self._wakeup = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # on_tick refreshes the Date header every 10th count
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wakeup.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop listening; idle connections close now, busy ones after their answer."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for server in self.servers:
            await server.wait_closed()


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port``; :meth:`bind` then :meth:`serve`."""

    def __init__(self, metrics: RuntimeMetrics, health: HealthCheck, addr: str) -> None:
        self._metrics = metrics
        self._health = health
        self._host, self._port = parse_addr(addr)
        self._socket: socket.socket | None = None
        self._on_stop: list[Callable[[], None]] = []
        self._app = Starlette(
            routes=[Route("/metrics", self._serve_metrics), Route("/healthz", self._serve_health)]
        )
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", access_log=False)
        self._server = _Server(config)

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port once bound, when 0 was asked)."""
        if self._socket is None:
            return self._host, self._port
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def bind(self) -> None:
        """Bind the listening socket now; OSError (e.g. address in use) for the caller."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock

    async def serve(self) -> None:
        """Serve until cancelled or :meth:`stop`; binds first if not bound."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        host, port = self.address
        logger.info("serving /metrics and /healthz on http://%s:%d", host, port)
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            self._socket.close()

    def mount(
        self, routes: Sequence[BaseRoute], *, on_stop: Callable[[], None] | None = None
    ) -> None:
        """Serve ``routes`` too (before :meth:`serve`); ``on_stop()`` runs on :meth:`stop`,
        to end answers that would otherwise keep their connection open."""
        self._app.router.routes.extend(routes)
        if on_stop is not None:
            self._on_stop.append(on_stop)

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.wake()
        for on_stop in self._on_stop:
            on_stop()

    async def _serve_metrics(self, request: Request) -> Response:
        return Response(self._metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def _serve_health(self, request: Request) -> Response:
        healthy, detail = self._health()
        return JSONResponse(detail, status_code=200 if healthy else 503)
