"""DockerDaemon: private engines side by side, a clean stop, and the busybox image."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from adapters.docker import ContainerSpec, DockerEngine
from localcluster.dockerd import (
    BUSYBOX_APPLETS,
    DockerDaemon,
    busybox_rootfs_tar,
    ensure_installed,
    import_busybox_image,
    mounts_below,
)


def gone(pid: int) -> bool:
    """No such process, or a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_rootfs_has_busybox_and_its_applets(docker_installed):
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
        members = {member.name: member for member in tar.getmembers()}

    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "sleep", "wget", "nc", "mkdir", *BUSYBOX_APPLETS):
        assert members[f"bin/{applet}"].issym()
        assert members[f"bin/{applet}"].linkname == "busybox"
    assert members["tmp"].isdir()


def test_ensure_installed_without_root_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kw: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    with pytest.raises(RuntimeError, match=r"apt-get install -y docker\.io busybox-static"):
        ensure_installed()


async def test_a_second_daemon_runs_beside_the_first_and_stop_leaves_nothing(
    dockerd, docker_engine, tmp_path
):
    deep = tmp_path / ("deep" * 12) / "second"  # too deep for unix socket paths
    async with DockerDaemon(deep) as second:
        async with DockerEngine(str(second.socket_path)) as engine:
            image = await import_busybox_image(engine)
            network = await engine.ensure_network("left-over", subnet="10.203.0.0/24")
            spec = ContainerSpec(
                name="left-over", image=image, command=("sleep", "300"), network=network.name
            )
            await engine.start_container(await engine.create_container(spec))
            assert [c.name for c in await engine.containers()] == ["left-over"]
            info = await engine.info()
        pid = second.pid
        containerd = second.containerd_pid()

    assert info.docker_root_dir == str(second.data_root)
    assert pid is not None and gone(pid)
    assert containerd is not None and gone(containerd)
    assert not second.socket_path.exists()
    assert os.listdir(second.data_root / "containers") == []
    assert mounts_below(second.state_dir) == []
    assert not second.exec_root.exists()  # the scratch dir for sockets is gone
    assert f"br-{network.id[:12]}" not in os.listdir("/sys/class/net")
    # the run's own engine never noticed
    assert await docker_engine.ping()
    assert "left-over" not in {c.name for c in await docker_engine.containers()}


def test_a_detached_daemon_is_stopped_by_another_object_for_the_same_state_dir(
    docker_installed, tmp_path
):
    state = tmp_path / ("deep" * 12) / "dockerd"  # the socket goes to a scratch dir
    pid = DockerDaemon(state).start_detached()
    try:
        later = DockerDaemon(state)  # as `dcosctl down` finds it: by state dir and pid
        assert later.socket_path.exists() and later.is_running(pid)
        assert not later.is_running(os.getpid())
        assert not later.stop_detached(os.getpid())  # not ours: nothing signalled
        assert later.socket_path.exists() and later.is_running(pid)
        assert later.stop_detached(pid)
    finally:
        DockerDaemon(state).stop_detached(pid)
    assert gone(pid)
    assert not later.socket_path.exists() and not later.socket_path.parent.exists()
    assert mounts_below(state) == []
