"""``dcosctl up`` and ``down`` with the CMDB: the token kept in 0600 files and off every
command line, the local NetBox started (or reused) and stopped, and the write-back of
a whole local data center reaching it."""

from __future__ import annotations

import asyncio
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.protocols import CmdbAddress
from cli import up as local
from cli.controller import _parser
from cli.controller_config import check, resolve
from localcluster.datacenter import netbox_running
from localcluster.processes import POLL, alive, cmdline

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _free_port(pair: bool = False) -> int:
    """A free port (and, with ``pair``, the next one free too)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not pair or not local._port_taken(port + 1):
            return port


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_the_token_is_generated_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    token = local._cmdb_token(tmp_path)
    path = tmp_path / local.TOKEN_FILE
    assert len(token) == 40 and int(token, 16) >= 0
    assert _mode(path) == 0o600
    path.chmod(0o644)
    assert local._cmdb_token(tmp_path) == token  # kept, and tightened again
    assert _mode(path) == 0o600


def test_the_controller_config_carries_the_token_for_the_controllers(tmp_path: Path) -> None:
    config = local._controller_config(tmp_path)
    assert _mode(config) == 0o600
    args = _parser().parse_args(["run", "--config", str(config), "--cmdb", "http://127.0.0.1:8"])
    resolve(args, {})
    check(args)
    assert args.cmdb_token == (tmp_path / local.TOKEN_FILE).read_text().strip()


def test_the_cmdb_is_started_reused_and_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_port: int, capsys
) -> None:
    monkeypatch.setattr(local, "CMDB_PORT", taken_port)  # the preferred port is taken
    seed = {"hosts": [{"name": "h1", "site": "sh1", "address": "10.0.0.1"}]}
    cmdb = local._spawn_cmdb(tmp_path, seed)
    try:
        assert cmdb.starting and cmdb.port != taken_port
        local._wait_cmdb(tmp_path, cmdb)
        out = capsys.readouterr().out
        assert f"at {cmdb.url} ({taken_port} is taken): 1 hosts of the specs seeded" in out
        token = (tmp_path / local.TOKEN_FILE).read_text().strip()
        assert not any(token.encode() in arg for arg in cmdline(cmdb.pid))

        again = local._spawn_cmdb(tmp_path, seed)
        assert (again.pid, again.port, again.starting) == (cmdb.pid, cmdb.port, False)
        assert "is running" in capsys.readouterr().out

        async def devices() -> list[str]:
            async with NetboxCmdb(CmdbSettings(url=cmdb.url, token=token)) as client:
                return [d.name for d in await client.list_devices()]

        assert asyncio.run(devices()) == ["h1"]
    finally:
        local._stop_cmdb(tmp_path)
    assert not netbox_running(cmdb.pid)
    assert "stopped the CMDB (local NetBox" in capsys.readouterr().out
    assert not (tmp_path / "netbox.pid").exists()
    assert (tmp_path / "netbox.port").read_text().strip() == str(cmdb.port)  # kept for the next up


def test_the_next_steps_show_the_cmdb_with_the_token_file_not_the_token(
    tmp_path: Path, capsys
) -> None:
    token = local._cmdb_token(tmp_path)
    local._next_steps(
        endpoint="http://127.0.0.1:2379",
        default=True,
        mesos="127.0.0.1:5050",
        docker=None,
        cmdb="http://127.0.0.1:8000",
        token_file=tmp_path / local.TOKEN_FILE,
    )
    out = capsys.readouterr().out
    assert f"$(cat {tmp_path / local.TOKEN_FILE})" in out
    assert "http://127.0.0.1:8000/api/dcim/devices/" in out
    assert token not in out


def test_up_writes_the_containers_back_to_its_cmdb_and_down_stops_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(local, "CMDB_PORT", _free_port())  # leave 8000 to a real make up
    state = tmp_path / "state"
    etcd_port, mesos_port = _free_port(pair=True), _free_port()
    try:
        local.up(
            state_dir=state,
            specs=REPO / "specs",
            port=etcd_port,
            mesos_port=mesos_port,
            wait=0,
        )
        url = f"http://127.0.0.1:{(state / 'netbox.port').read_text().strip()}"
        token = (state / local.TOKEN_FILE).read_text().strip()
        for name in ("controller-a", "controller-b"):
            pid = int((state / f"{name}.pid").read_text())
            argv = cmdline(pid)
            assert url.encode() in argv and not any(token.encode() in a for a in argv)

        async def listed() -> list[CmdbAddress]:
            async with NetboxCmdb(CmdbSettings(url=url, token=token)) as client:
                return await client.list_addresses()

        deadline = time.monotonic() + 30  # the controllers lead, place, then write back
        while not (addresses := asyncio.run(listed())) and time.monotonic() < deadline:
            time.sleep(POLL)
        assert addresses, "no container address reached the CMDB within 30 s"
        assert all(a.host.startswith("sh1-") and "/" in a.app for a in addresses)

        capsys.readouterr()
        local.up(
            state_dir=state, specs=REPO / "specs", port=etcd_port, mesos_port=mesos_port, wait=0
        )
        again = capsys.readouterr().out
        assert "the CMDB (local NetBox) is running" in again
        assert "curl -s -H" in again and f"{url}/api/dcim/devices/" in again  # the next steps
        assert (
            "dcos-controller controller-a is running" in again and "without the CMDB" not in again
        )
    finally:
        pids = [int(p.read_text()) for p in state.glob("*.pid")]
        local.down(state_dir=state, purge=False)
    assert not any(alive(pid) for pid in pids)
    out = capsys.readouterr().out
    assert "stopped the CMDB (local NetBox" in out
