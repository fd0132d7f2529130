"""The metrics server stops at once, and the event loop's lag is sampled."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from reconciler.runtime.metrics import MetricsServer, RuntimeMetrics, sample_loop_lag

DEADLINE = 5.0


def _above(metrics: RuntimeMetrics, bound: float) -> float:
    """Lag observations above ``bound`` seconds (one of the histogram's buckets)."""
    buckets: dict[float, float] = {}
    count = 0.0
    for metric in metrics.loop_lag.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return count - buckets[bound]


def _stall(seconds: float) -> None:
    """Hold the event loop (the stall being measured): nothing else runs meanwhile."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pass


async def test_a_stalled_loop_shows_in_the_lag_histogram(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = RuntimeMetrics()
    observed = asyncio.Event()
    observe = metrics.loop_lag.observe

    def observing(value: float) -> None:
        observe(value)
        observed.set()

    monkeypatch.setattr(metrics.loop_lag, "observe", observing)
    sampler = asyncio.create_task(sample_loop_lag(metrics, interval=0.01), name="loop-lag")
    try:
        async with asyncio.timeout(DEADLINE):
            await observed.wait()  # the sampler runs
            _stall(0.15)
            observed.clear()
            await observed.wait()  # its timer fell due during the stall
        assert _above(metrics, 0.1) == 1
    finally:
        sampler.cancel()


async def test_stop_ends_serving_at_once_with_a_keep_alive_connection_open() -> None:
    metrics = RuntimeMetrics()
    server = MetricsServer(metrics, lambda: (True, {"status": "ok"}), "127.0.0.1:0")
    server.bind()
    host, port = server.address
    serving = asyncio.create_task(server.serve(), name="metrics-server")
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        async with asyncio.timeout(DEADLINE):
            assert (await client.get("/healthz")).json() == {"status": "ok"}
        started = time.monotonic()
        server.stop()
        async with asyncio.timeout(DEADLINE):
            await serving
        assert time.monotonic() - started < 0.1, "no polling, no grace period"
