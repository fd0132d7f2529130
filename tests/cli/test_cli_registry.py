"""registry sync: the on-demand request is an annotation; --wait prints each replica's lag."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import Result

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.registrymirror import RegistryMirror, ReplicaStatus
from reconciler.registry.mirror import SYNC_REQUESTED

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]

MIRROR = """\
apiVersion: dcos/v1
kind: RegistryMirror
metadata:
  name: hub
spec:
  replicas: 2
  repositories: ["shop/*"]
"""


def _apply(dcosctl: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mirror.yaml"
    path.write_text(MIRROR)
    assert dcosctl("apply", "-f", str(path)).exit_code == 0


def test_sync_sets_the_request_annotation(dcosctl: Cli, tmp_path: Path) -> None:
    _apply(dcosctl, tmp_path)
    before = datetime.now(UTC)
    result = dcosctl("registry", "sync", "hub")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("registrymirror hub: sync requested at ")
    got = json.loads(dcosctl("get", "registrymirror", "hub", "-o", "json").stdout)
    asked = datetime.fromisoformat(got["metadata"]["annotations"][SYNC_REQUESTED])
    assert asked >= before


async def test_sync_wait_prints_the_replicas(
    dcosctl: Cli, tmp_path: Path, store: EtcdStore
) -> None:
    await asyncio.to_thread(_apply, dcosctl, tmp_path)  # the CLI runs its own event loop
    mirror = await store.get(ObjectKey("RegistryMirror", None, "hub"))
    assert isinstance(mirror, RegistryMirror)
    rows = [
        ReplicaStatus(
            host="h1", address="10.0.0.1:31000", ready=True, primary=True, missing_tags=0
        ),
        ReplicaStatus(host="h2", address="10.0.0.2:31000", ready=False),
    ]
    later = datetime.now(UTC) + timedelta(hours=1)  # as if the controller synced after the ask
    status = mirror.status.model_copy(update={"replicas": rows, "last_sync_time": later})
    await store.update_status(mirror.model_copy(update={"status": status}))
    result = await asyncio.to_thread(dcosctl, "registry", "sync", "hub", "--wait", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["HOST", "ADDRESS", "READY", "PRIMARY", "LAG", "ERROR"]
    assert lines[2].split() == ["h1", "10.0.0.1:31000", "yes", "yes", "0"]
    assert lines[3].split() == ["h2", "10.0.0.2:31000", "no", "-"]


def test_sync_wait_without_a_controller_is_one_error_line(
    dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck
) -> None:
    _apply(dcosctl, tmp_path)
    line = check_error(dcosctl("registry", "sync", "hub", "--wait", "0.2"))
    assert "RegistryMirror hub: no sync within 0.2s" in line


def test_sync_of_an_unknown_mirror_is_one_error_line(dcosctl: Cli, check_error: ErrorCheck) -> None:
    line = check_error(dcosctl("registry", "sync", "nope"))
    assert "nope" in line
