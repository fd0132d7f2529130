"""A Docker registry process (Debian's ``docker-registry``, distribution 2.8) on
127.0.0.1, for tests, benchmarks and registry replicas of the local data center.

``registry_config`` renders the YAML a replica runs with: filesystem storage
under a directory, deletes enabled (so replication can replace a tag's
manifest), HTTP on 127.0.0.1 only. ``RegistryServer`` starts one on a free port
and waits for ``GET /v2/`` to answer.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Self

from adapters.registry import Manifest, RegistryClient
from adapters.registry.client import SCHEMA2, sha256_digest
from localcluster.etcd import free_port
from localcluster.processes import terminate, wait_ready

__all__ = ["RegistryServer", "push_synthetic", "registry_binary", "registry_config"]


def registry_binary() -> str:
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if found is None:
        raise RuntimeError("docker-registry not found: apt-get install -y docker-registry")
    return found


def registry_config(root: str, port: int, host: str = "127.0.0.1") -> str:
    """The YAML configuration of one registry (``$PORT``-style values may be passed
    through as text, the shell expands them)."""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {root}\n"
        "  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: {host}:{port}\n"
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=1.0) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class RegistryServer:
    """One ``docker-registry serve`` on 127.0.0.1:<free port>, storage in a temp dir."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="registry-")
        self.root = root or Path(self._tmp.name if self._tmp else ".")
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        self.port = free_port()
        config = self.root / "config.yml"
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        config.write_text(registry_config(str(self.root / "data"), self.port))
        log = self.root / "registry.log"
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                [registry_binary(), "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_ready(
            self._proc.pid,
            lambda: _answers(self.url),
            what=f"docker-registry on {self.url}",
            log_file=log,
            timeout=20.0,
        )

    def stop(self) -> None:
        if self._proc is not None:
            terminate([self._proc.pid], timeout=5.0)
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _layer(seed: str, size: int) -> bytes:
    """``size`` pseudo-random bytes (incompressible, distinct per seed)."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out.extend(block * 64)
    return bytes(out[:size])


async def push_synthetic(
    client: RegistryClient,
    repository: str,
    tag: str,
    *,
    seed: str,
    layer_sizes: tuple[int, ...] = (1024,),
    shared_layers: tuple[bytes, ...] = (),
) -> str:
    """Push a schema2 image (config blob, ``shared_layers`` then one layer per
    size, seeded) over the API, manifest last; returns the manifest digest."""
    layers = [*shared_layers, *(_layer(f"{seed}/{i}", n) for i, n in enumerate(layer_sizes))]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"seed": seed}},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(b) for b in layers]},
        },
        sort_keys=True,
    ).encode()
    config_digest = await client.put_blob(repository, config)
    entries = []
    for data in layers:
        if not await client.has_blob(repository, sha256_digest(data)):
            await client.put_blob(repository, data)
        entries.append(
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(data),
                "digest": sha256_digest(data),
            }
        )
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SCHEMA2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": entries,
        },
        indent=3,
    ).encode()
    manifest = Manifest(media_type=SCHEMA2, body=body, digest=sha256_digest(body))
    return await client.put_manifest(repository, tag, manifest)
