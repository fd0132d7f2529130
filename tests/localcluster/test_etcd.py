"""The embedded etcd: started, answering, restarted in place, stopped for good."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster.etcd import EtcdServer, etcdctl_binary, free_port, start_detached, stop_pid


def _answers(server: EtcdServer) -> bool:
    result = server.etcdctl("endpoint", "health", check=False)
    return result.returncode == 0


def test_sync_server_answers_and_stops_its_process(tmp_path: Path) -> None:
    server = EtcdServer(tmp_path / "data", extra_args=["--auto-compaction-retention=0"])
    server.start()
    try:
        assert server.endpoint.startswith("http://127.0.0.1:")
        assert _answers(server)
        server.etcdctl("put", "k", "v")
        pid = server.pid
        assert pid is not None
    finally:
        server.close()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert (tmp_path / "data").exists(), "a given data dir is kept"


def test_restart_keeps_port_and_data() -> None:
    with EtcdServer() as server:
        endpoint = server.endpoint
        server.etcdctl("put", "k", "kept")
        server.stop()
        assert not server.running
        server.start()
        assert server.endpoint == endpoint
        assert server.etcdctl("get", "k", "--print-value-only").stdout.strip() == "kept"
    assert not server.data_dir.exists(), "an owned data dir is removed"


async def test_async_context_manager() -> None:
    async with EtcdServer() as server:
        assert server.running
        assert _answers(server)
    assert not server.running


def test_extra_flags_reach_etcd() -> None:
    with EtcdServer(extra_args=["--max-txn-ops=3"]) as server:
        ops = "\n".join(f"put k{i} v" for i in range(4))
        result = subprocess.run(
            [etcdctl_binary(), f"--endpoints={server.endpoint}", "txn", "--interactive=false"],
            input=f"\n{ops}\n\n\n",
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert "too many operations" in result.stderr


def test_start_fails_clearly_on_a_taken_port() -> None:
    with EtcdServer() as first:
        second = EtcdServer(client_port=first.client_port, start_timeout=10)
        try:
            with pytest.raises(RuntimeError, match="taken"):
                second.start()
        finally:
            second.close()
        assert not second.running
        assert first.running


def test_detached_server_survives_and_stop_pid_stops_it(tmp_path: Path) -> None:
    port = free_port()
    pid = start_detached(tmp_path / "data", tmp_path / "etcd.log", port)
    try:
        assert os.getsid(pid) == pid, "detached with setsid"
        server = EtcdServer(client_port=port)
        assert _answers(server)
    finally:
        assert stop_pid(pid)
    assert not stop_pid(pid), "nothing left to stop"


def test_stop_pid_never_signals_a_process_that_is_not_etcd() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not stop_pid(sleeper.pid)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
