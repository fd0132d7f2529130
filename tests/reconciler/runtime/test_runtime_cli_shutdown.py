"""``dcos-controller run`` stops quickly on SIGTERM: as the leader of a Mesos
framework, with a client holding a keep-alive connection to ``/healthz``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.mesos_sim import start_master
from localcluster.etcd import free_port

BIN = Path(sys.executable).parent / "dcos-controller"
START_DEADLINE = 30.0
EXIT_BOUND = 0.5
"""Seconds from SIGTERM to the process's exit: it takes tens of milliseconds when
idle; uvicorn's polling and grace and the interpreter's exit collections took 0.4."""


@pytest.fixture
def master() -> Iterator[str]:
    """A local Mesos master with three sim agents, in its own process; its URL."""
    proc, url = start_master("--agents", "3", "--log-level", "WARNING", stderr=subprocess.DEVNULL)
    with proc:
        try:
            yield url
        finally:
            proc.kill()


def test_sigterm_stops_a_leading_framework_within_a_second(etcd_endpoint: str, master: str) -> None:
    port = free_port()
    with subprocess.Popen(
        [
            str(BIN),
            "run",
            "--etcd",
            etcd_endpoint,
            "--prefix",
            f"/test-{uuid.uuid4().hex[:12]}",
            "--mesos",
            master,
            "--metrics-addr",
            f"127.0.0.1:{port}",
            "--id",
            "quick-exit",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            took = _sigterm_when_leading(proc, port)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert took < EXIT_BOUND


def _sigterm_when_leading(proc: subprocess.Popen[str], port: int) -> float:
    """Wait until ``proc`` leads, SIGTERM it; the seconds it took to exit."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1.0) as client:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            assert proc.poll() is None, "dcos-controller exited before it led"
            assert time.monotonic() < deadline, "no leader within the deadline"
            try:
                health = client.get("/healthz")
            except httpx.HTTPError:
                health = None
            if health is not None and health.status_code == 200 and health.json()["leader"]:
                break
            time.sleep(0.05)
        client.get("/metrics").raise_for_status()  # a keep-alive connection stays open
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=EXIT_BOUND)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {EXIT_BOUND}s after SIGTERM") from None
        return time.monotonic() - started
