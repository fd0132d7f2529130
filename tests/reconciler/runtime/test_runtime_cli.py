"""``dcos-controller run`` as a process: health, metrics, failover between two
replicas, graceful SIGTERM, and its one-line errors with exit codes 1 and 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localcluster.etcd import free_port

BIN = Path(sys.executable).parent / "dcos-controller"
DEADLINE = 20.0


def _start(endpoint: str, prefix: str, identity: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN),
            "run",
            "--prefix",
            prefix,
            "--metrics-addr",
            f"127.0.0.1:{port}",
            "--id",
            identity,
            "--lease-ttl",
            "2",
        ],
        env={**os.environ, "DCOS_ETCD": endpoint},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _health(port: int) -> tuple[int, dict[str, Any]] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
    except httpx.HTTPError:
        return None
    return response.status_code, response.json()


def _wait_health(port: int, *, leader: bool, proc: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        got = _health(port)
        if got is not None and got[0] == 200 and got[1]["leader"] is leader:
            return got[1]
        time.sleep(0.05)
    raise AssertionError(f"no healthy replica with leader={leader} on :{port}")


def _terminate(proc: subprocess.Popen[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err, time.monotonic() - started


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_run_serves_health_and_metrics_fails_over_and_stops_on_sigterm(
    etcd_endpoint: str, processes: list[subprocess.Popen[str]]
) -> None:
    prefix = f"/test-{uuid.uuid4().hex[:12]}"
    port_a, port_b = free_port(), free_port()
    a = _start(etcd_endpoint, prefix, "replica-a", port_a)
    processes.append(a)
    detail = _wait_health(port_a, leader=True, proc=a)
    assert detail["identity"] == "replica-a" and detail["status"] == "ok"
    metrics = httpx.get(f"http://127.0.0.1:{port_a}/metrics", timeout=2.0).text
    for series in (
        "dcos_leader 1.0",
        "dcos_launches_total 0.0",
        "dcos_kills_total 0.0",
        "# TYPE dcos_workqueue_depth gauge",
        "# TYPE dcos_workqueue_adds_total counter",
        "# TYPE dcos_workqueue_retries_total counter",
        "# TYPE dcos_controller_reconcile_time_seconds histogram",
        "# TYPE dcos_controller_reconcile_errors_total counter",
    ):
        assert series in metrics, series

    b = _start(etcd_endpoint, prefix, "replica-b", port_b)
    processes.append(b)
    _wait_health(port_b, leader=False, proc=b)
    code, err, took = _terminate(a)
    assert code == 0, err
    assert took < 5.0, f"SIGTERM took {took:.1f}s"
    assert "Traceback" not in err
    stopped_at = time.monotonic()
    _wait_health(port_b, leader=True, proc=b)
    assert time.monotonic() - stopped_at < 2.0, "the standby takes over at once, not after the TTL"
    code, err, _ = _terminate(b)
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param([], "command", id="no-command"),
        pytest.param(["run", "--bogus"], "--bogus", id="unknown-flag"),
        pytest.param(["run", "--lease-ttl", "x"], "--lease-ttl", id="ttl-not-a-number"),
        pytest.param(["run", "--lease-ttl", "0"], "--lease-ttl", id="ttl-zero"),
        pytest.param(["run", "--metrics-addr", "nowhere"], "--metrics-addr", id="bad-address"),
        pytest.param(["run", "--etcd", "a,,b"], "--etcd", id="empty-endpoint"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcos-controller: error:"), done.stderr
    assert says in lines[0]


def test_etcd_down_is_one_line_naming_the_endpoint_and_exit_1() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [str(BIN), "run", "--etcd", endpoint, "--metrics-addr", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and endpoint in lines[0], done.stderr


def test_metrics_address_in_use_is_one_line_and_exit_1(etcd_endpoint: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(BIN), "run", "--etcd", etcd_endpoint, "--metrics-addr", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("dcos-controller: error:") and str(port) in lines[-1]
    assert "Traceback" not in done.stderr


def test_run_takes_its_settings_from_a_config_file(
    etcd_endpoint: str, processes: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """The example of docs/controller.md, with this test's etcd, prefix and port."""
    port = free_port()
    config = tmp_path / "controller.yaml"
    config.write_text(
        f"etcd: [{etcd_endpoint}]\n"
        f"prefix: /test-{uuid.uuid4().hex[:12]}\n"
        f"metrics-addr: 127.0.0.1:{port}\n"
        "id: from-file\n"
        "lease-ttl: 2\n"
        "timeout: 5\n"
        "log-level: info\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DCOS_ETCD", "DCOS_MESOS")}
    proc = subprocess.Popen(
        [str(BIN), "run"],
        env={**env, "DCOS_CONTROLLER_CONFIG": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    detail = _wait_health(port, leader=True, proc=proc)
    assert detail["identity"] == "from-file"
    code, err, _ = _terminate(proc)
    assert code == 0, err
