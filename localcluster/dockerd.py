"""A private Docker engine, and the busybox image the tests run, built without a download.

:class:`DockerDaemon` owns one ``dockerd`` child process (``docker.io`` from
Debian). Everything it writes lives under its own state directory: the API
socket, ``--data-root`` (vfs storage, which works in any file system),
``--exec-root`` and the pid file. dockerd starts its own containerd under the
exec root (socket, state) and data root (content), so several daemons run
side by side without sharing anything; the containerd namespace names the
instance too. It runs with ``--iptables=false --ip-masq=false --bridge=none``:
it never touches the host's firewall and has no default bridge, so containers
live on user bridge networks (``adapters.docker.DockerEngine.ensure_network``)
or on the host network.

Two daemons stand for two hosts (``tests/conftest.py``: ``dockerd`` and
``second_dockerd``): each may have a network of the same name, subnet and
gateway (one VLAN, a different ip-range per host) because each network gets
its own Linux bridge (``br-`` and the network id) and neither daemon adds
firewall or NAT rules; containers' addresses on such networks are assigned
and inspected, never connected to from the host.

A state directory too deep for unix socket paths (108 bytes) keeps the data,
pid file and log, while the socket and exec root go to a short scratch
directory named after the state directory (so a later process finds it
again), removed by ``stop()``.

``start()`` returns once ``/_ping`` answers (a condition with a deadline, never
a bare sleep). ``stop()`` force-removes every container and user network of
that engine, then stops exactly that dockerd (SIGTERM, SIGKILL on timeout) and
its containerd, and detaches what dockerd may leave mounted in its exec root
(``netns/default``). ``start``/``stop`` are blocking and meant for fixtures
and the CLI; ``async with`` runs them in a worker thread. Engine calls go through
:class:`adapters.docker.DockerEngine` (aiodocker), each blocking step running
its own event loop in a helper thread, so a caller's loop is never touched.

``start_detached()``/``stop_detached(pid)`` are the long-lived variant for
``dcosctl up``: dockerd runs in its own session and outlives the caller, and
``down`` stops it from another process by its pid (checked against its
command line, so a recycled pid is never signalled), with the same cleanup.
Both stop paths share :func:`localcluster.processes.terminate`.

:func:`ensure_installed` installs ``docker.io`` and ``busybox-static`` with
apt when they are missing and we are root. :func:`import_busybox_image` turns
``/bin/busybox`` into a one-layer image through the engine's import endpoint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TypeVar

from adapters.docker import ContainerRuntime, DockerEngine
from localcluster.processes import alive, cmdline, spawn_detached, terminate, wait_ready

__all__ = [
    "BUSYBOX_APPLETS",
    "BUSYBOX_PATH",
    "DockerDaemon",
    "busybox_rootfs_tar",
    "ensure_installed",
    "import_busybox_image",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

BUSYBOX_PATH = Path("/bin/busybox")
BUSYBOX_APPLETS = (
    "sh", "sleep", "echo", "cat", "ls", "true", "false", "test", "wget", "nc", "mkdir",
    "env", "id", "ps", "kill", "hostname", "ip", "touch", "rm",
)  # fmt: skip
_BUILTIN_NETWORKS = frozenset({"bridge", "host", "none"})
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes; containerd appends ".ttrpc" to its socket
_apt_updated = False
_MNT_DETACH = 2


def ensure_installed() -> None:
    """Make sure ``dockerd``, ``containerd`` and a static ``/bin/busybox`` exist.

    As root, missing ones are installed with apt (``apt-get update`` runs once
    per process); otherwise RuntimeError says what to install.
    """
    global _apt_updated
    missing = _missing()
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(
            f"missing {', '.join(missing)}: as root, run "
            "`apt-get install -y docker.io busybox-static`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    logger.info("installing docker.io and busybox-static (missing: %s)", ", ".join(missing))
    try:
        if not _apt_updated:
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
            _apt_updated = True
        subprocess.run(
            ["apt-get", "install", "-y", "docker.io", "busybox-static"],
            env=env,
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        output = getattr(exc, "stderr", b"") or b""
        raise RuntimeError(f"apt-get could not install docker.io busybox-static: {exc}\n"
                           f"{output.decode(errors='replace')[-2000:]}") from exc  # fmt: skip
    still = _missing()
    if still:
        raise RuntimeError(f"still missing after apt-get install: {', '.join(still)}")


def _missing() -> list[str]:
    missing = [name for name in ("dockerd", "containerd") if shutil.which(name) is None]
    if not BUSYBOX_PATH.is_file():
        missing.append(str(BUSYBOX_PATH))
    return missing


def _run_async(factory: Callable[[], Coroutine[object, object, T]]) -> T:
    """Run a coroutine to completion on its own loop in a helper thread."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dockerd") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class DockerDaemon:
    """One dockerd on a private unix socket, started and stopped by this object.

    >>> with DockerDaemon(tmp_path / "dockerd") as daemon:   # or: async with
    ...     engine = DockerEngine(str(daemon.socket_path))   # inside a running loop
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.state_dir = (state_dir or Path(tempfile.mkdtemp(prefix="dockerd-"))).absolute()
        self.data_root = self.state_dir / "data"
        # Sockets live in the exec root; when the state dir is too deep for a unix
        # socket path, they go to a short scratch dir of this instance instead.
        self._scratch: Path | None = None
        if len(f"{self.state_dir}/exec/containerd/containerd.sock.ttrpc") > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:16]
            self._scratch = Path(tempfile.gettempdir()) / f"dockerd-{digest}"
        runtime_dir = self._scratch or self.state_dir
        self.socket_path = runtime_dir / "docker.sock"
        self.exec_root = runtime_dir / "exec"
        self.pid_file = self.state_dir / "docker.pid"
        self.log_file = self.state_dir / "dockerd.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_args = tuple(extra_args)
        self.namespace = f"dcos-{uuid.uuid4().hex[:8]}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [
            shutil.which("dockerd") or "dockerd",
            f"--host={self.url}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pid_file}",
            f"--containerd-namespace={self.namespace}",
            f"--containerd-plugins-namespace={self.namespace}-plugins",
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip-masq=false",
            "--bridge=none",
            "--log-level=warn",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start dockerd and return once it answers ``/_ping``; RuntimeError if it cannot."""
        if self.running:
            return
        self._make_dirs()
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = time.monotonic()
        if not _run_async(self._wait_ready):
            tail = self._log_tail()
            self.stop()
            raise RuntimeError(f"dockerd did not answer within {self.start_timeout}s:\n{tail}")
        logger.info(
            "dockerd %s started (pid %s) in %.1fs", self.url, self.pid, time.monotonic() - started
        )

    async def _wait_ready(self) -> bool:
        engine = DockerEngine(str(self.socket_path))
        try:
            async with asyncio.timeout(self.start_timeout):
                while self.running:
                    if await engine.ping():
                        return True
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pass
        finally:
            await engine.close()
        return False

    def stop(self) -> None:
        """Remove this engine's containers and networks, then stop dockerd and its containerd."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                _run_async(self._remove_leftovers)
            except Exception:
                logger.exception("could not clean up dockerd %s before stopping it", self.url)
            containerd = self.containerd_pid()
            terminate([process.pid], timeout=self.stop_timeout)
            process.wait()
            if containerd is not None:
                terminate([containerd], timeout=self.stop_timeout)
            logger.info("dockerd %s stopped", self.url)
        self._release()

    def start_detached(self) -> int:
        """Start dockerd in its own session (it outlives this process); its pid once
        ``/_ping`` answers. RuntimeError with the log's tail when it cannot start."""
        self._make_dirs()
        pid = spawn_detached(self.command(), self.log_file)
        wait_ready(
            pid,
            lambda: _run_async(self._ping),
            what=f"dockerd on {self.url}",
            log_file=self.log_file,
            timeout=self.start_timeout,
        )
        logger.info("dockerd %s started detached (pid %d)", self.url, pid)
        return pid

    def is_running(self, pid: int) -> bool:
        """True when ``pid`` is the dockerd of this state directory."""
        argv = cmdline(pid)
        return alive(pid) and f"--host={self.url}".encode() in argv

    def stop_detached(self, pid: int) -> bool:
        """Like :meth:`stop`, for the dockerd ``start_detached`` started (by any
        process); False, and nothing signalled, when ``pid`` is not it."""
        if not self.is_running(pid):
            if not _run_async(self._ping):  # no engine here: tidy what a dead one left
                self._release()
            return False
        try:
            _run_async(self._remove_leftovers)
        except Exception:
            logger.exception("could not clean up dockerd %s before stopping it", self.url)
        containerd = self.containerd_pid()
        stopped = terminate([pid], timeout=self.stop_timeout) == [pid]
        if containerd is not None:
            terminate([containerd], timeout=self.stop_timeout)
        self._release()
        return stopped

    async def _ping(self) -> bool:
        async with DockerEngine(str(self.socket_path)) as engine:
            return await engine.ping()

    def _make_dirs(self) -> None:
        if self._scratch is not None:
            self._scratch.mkdir(mode=0o700, exist_ok=True)
        for path in (self.data_root, self.exec_root):
            path.mkdir(parents=True, exist_ok=True)

    def _release(self) -> None:
        """Detach what is left mounted, remove the scratch directory, close the log."""
        _unmount_below(self.state_dir)
        if self._scratch is not None:
            _unmount_below(self._scratch)
            shutil.rmtree(self._scratch, ignore_errors=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _remove_leftovers(self) -> None:
        async with DockerEngine(str(self.socket_path)) as engine:
            containers = await engine.containers()
            await asyncio.gather(*(engine.remove_container(c.id) for c in containers))
            for container in containers:
                logger.info("removed leftover container %s", container.name)
            for network in await engine.networks():
                if network.name not in _BUILTIN_NETWORKS:
                    await engine.remove_network(network.name)

    def containerd_pid(self) -> int | None:
        """The pid of the containerd this dockerd started, if it runs."""
        pid_file = self.exec_root / "containerd" / "containerd.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:  # never signal a recycled pid: it must be our containerd
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"containerd" in cmdline and str(self.exec_root).encode() in cmdline else None

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def mounts_below(root: Path) -> list[str]:
    """Mount points under ``root``, deepest first."""
    prefix = f"{root}/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[4].replace("\\040", " ") for line in lines]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _unmount_below(root: Path) -> None:
    """Detach what dockerd left mounted under ``root`` (such as ``exec/netns/default``)."""
    points = mounts_below(root)
    if not points:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for point in points:
        if libc.umount2(point.encode(), _MNT_DETACH) != 0:
            logger.warning("could not unmount %s: %s", point, os.strerror(ctypes.get_errno()))


def busybox_rootfs_tar(
    busybox: Path = BUSYBOX_PATH, applets: Sequence[str] = BUSYBOX_APPLETS
) -> bytes:
    """A root file system tarball: ``/bin/busybox``, applet symlinks, /etc/passwd, /tmp."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700)):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, mode, 0
            tar.addfile(entry)
        binary = busybox.read_bytes()
        entry = tarfile.TarInfo("bin/busybox")
        entry.size, entry.mode, entry.mtime = len(binary), 0o755, 0
        tar.addfile(entry, io.BytesIO(binary))
        for applet in applets:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, "busybox", 0o777, 0
            tar.addfile(link)
        for name, text in (
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ):
            data = text.encode()
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.mtime = len(data), 0o644, 0
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


async def import_busybox_image(
    docker_client: ContainerRuntime, ref: str = "dcos-test/busybox:1"
) -> str:
    """Import a busybox root fs as ``ref`` unless the engine has it; returns ``ref``."""
    if await docker_client.has_image(ref):
        return ref
    rootfs = await asyncio.to_thread(busybox_rootfs_tar)
    await docker_client.import_image(rootfs, ref)
    return ref
