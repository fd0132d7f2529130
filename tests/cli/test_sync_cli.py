"""sync: a folder applied and recorded, drift reported or put back, pruning of its own
objects only, a wrong file writing nothing, and ``sync status`` with its exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]

DOMAIN = """\
apiVersion: dcos/v1
kind: Domain
metadata:
  name: shop
spec: {}
"""


def app(name: str, instances: int, image: str = "registry.local/shop/web:1.0") -> str:
    return f"""\
apiVersion: dcos/v1
kind: App
metadata:
  name: {name}
  domain: shop
spec:
  image: {image}
  instances: {instances}
"""


POLICY = """\
apiVersion: dcos/v1
kind: ScalingPolicy
metadata:
  name: web-sales
  domain: shop
spec:
  targetRef:
    name: web
  schedules:
    - name: sale
      cron: "0 10 * * *"
      instances: 12
      until: 1h
"""


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "domain.yaml").write_text(DOMAIN)
    (folder / "web.yaml").write_text(app("web", 3))
    (folder / "api.yaml").write_text(app("api", 2))
    return folder


def _spec(dcosctl: Cli, name: str) -> dict[str, object] | None:
    result = dcosctl("get", "app", name, "-d", "shop", "-o", "json")
    if result.exit_code != 0:
        return None
    spec = json.loads(result.stdout)["spec"]
    assert isinstance(spec, dict)
    return spec


def _synced(dcosctl: Cli, *args: str) -> Result:
    result = dcosctl("sync", *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_sync_applies_records_and_is_idempotent(dcosctl: Cli, specs: Path) -> None:
    first = _synced(dcosctl, str(specs))
    assert "App/shop/web created" in first.stdout
    assert "App/shop/api created" in first.stdout
    assert "sync specs: 3 Synced" in first.stdout
    again = _synced(dcosctl, str(specs))
    assert "created" not in again.stdout and "configured" not in again.stdout
    status = dcosctl("sync", "status")
    assert status.exit_code == 0, status.output
    lines = status.stdout.splitlines()
    assert lines[1].split() == ["KIND", "DOMAIN", "NAME", "STATUS", "MESSAGE"]
    assert sorted(line.split()[3] for line in lines[2:]) == ["Synced"] * 3
    spec = _spec(dcosctl, "web") or {}
    assert (spec["image"], spec["instances"]) == ("registry.local/shop/web:1.0", 3)


def test_a_changed_file_is_applied_and_a_removed_one_pruned_only_with_prune(
    dcosctl: Cli, specs: Path, tmp_path: Path
) -> None:
    _synced(dcosctl, str(specs))
    other = tmp_path / "other.yaml"  # applied by hand, not owned by the sync
    other.write_text(app("legacy", 1))
    assert dcosctl("apply", "-f", str(other)).exit_code == 0
    (specs / "web.yaml").write_text(app("web", 3, image="registry.local/shop/web:2.0"))
    (specs / "api.yaml").unlink()
    changed = _synced(dcosctl, str(specs))
    assert "App/shop/web configured" in changed.stdout
    assert (_spec(dcosctl, "web") or {})["image"] == "registry.local/shop/web:2.0"
    assert _spec(dcosctl, "api") is not None  # no --prune: kept, reported
    status = dcosctl("sync", "status", "specs")
    assert status.exit_code == 1
    assert "not in the folder any more" in status.stdout
    pruned = _synced(dcosctl, str(specs), "--prune")
    assert "App/shop/api pruned" in pruned.stdout
    assert _spec(dcosctl, "api") is None
    assert _spec(dcosctl, "legacy") is not None  # never the sync's: never pruned
    assert dcosctl("sync", "status").exit_code == 0


def test_drift_is_reported_then_put_back_with_self_heal(dcosctl: Cli, specs: Path) -> None:
    _synced(dcosctl, str(specs))
    assert dcosctl("scale", "app/web", "-d", "shop", "--instances", "7").exit_code == 0
    reported = _synced(dcosctl, str(specs), "--prune")
    assert "drift: App/shop/web changed behind the folder's back: left as is" in reported.stdout
    assert "-  instances: 7\n+  instances: 3" in reported.stdout
    assert (_spec(dcosctl, "web") or {})["instances"] == 7  # left, and not pruned
    status = dcosctl("sync", "status")
    assert status.exit_code == 1
    row = next(line for line in status.stdout.splitlines() if " web " in line)
    assert row.split()[3] == "OutOfSync"
    assert "--- live/App/shop/web" in status.stdout
    healed = _synced(dcosctl, str(specs), "--self-heal")
    assert "App/shop/web changed behind the folder's back: put back" in healed.stdout
    assert (_spec(dcosctl, "web") or {})["instances"] == 3
    assert dcosctl("sync", "status").exit_code == 0


def test_a_deleted_object_is_missing_until_self_heal(dcosctl: Cli, specs: Path) -> None:
    _synced(dcosctl, str(specs))
    assert dcosctl("delete", "app", "api", "-d", "shop").exit_code == 0
    reported = _synced(dcosctl, str(specs))
    assert "App/shop/api deleted behind the folder's back" in reported.stdout
    assert _spec(dcosctl, "api") is None
    assert "Missing" in dcosctl("sync", "status").stdout
    _synced(dcosctl, str(specs), "--self-heal")
    assert _spec(dcosctl, "api") is not None


def test_instances_a_scaling_policy_owns_are_never_drift(dcosctl: Cli, specs: Path) -> None:
    (specs / "policy.yaml").write_text(POLICY)
    _synced(dcosctl, str(specs))
    assert dcosctl("scale", "app/web", "-d", "shop", "--instances", "12").exit_code == 0
    healed = _synced(dcosctl, str(specs), "--self-heal")
    assert "drift" not in healed.stdout
    assert (_spec(dcosctl, "web") or {})["instances"] == 12
    assert dcosctl("sync", "status").exit_code == 0
    (specs / "web.yaml").write_text(app("web", 4, image="registry.local/shop/web:2.0"))
    changed = _synced(dcosctl, str(specs), "--self-heal")
    assert "App/shop/web configured" in changed.stdout
    spec = _spec(dcosctl, "web") or {}
    assert (spec["image"], spec["instances"]) == ("registry.local/shop/web:2.0", 12)


def test_a_wrong_file_writes_nothing_and_names_file_and_field(
    dcosctl: Cli, specs: Path, check_error: ErrorCheck
) -> None:
    _synced(dcosctl, str(specs))
    before = dcosctl("sync", "status").stdout
    (specs / "web.yaml").write_text(app("web", 5, image="registry.local/shop/web:3.0"))
    (specs / "api.yaml").write_text(app("api", 2).replace("instances: 2", "instances: two"))
    line = check_error(dcosctl("sync", str(specs), "--prune", "--self-heal"))
    assert line.startswith(f"error: {specs / 'api.yaml'}: document 1: spec.instances: ")
    assert (_spec(dcosctl, "web") or {})["instances"] == 3  # not even the good file
    (specs / "api.yaml").write_text(app("api", 2))
    assert dcosctl("sync", "status").stdout.splitlines()[0] == before.splitlines()[0]


def test_status_errors_and_names(
    dcosctl: Cli, specs: Path, tmp_path: Path, check_error: ErrorCheck
) -> None:
    check_error(dcosctl("sync", "status"), 2)
    check_error(dcosctl("sync", "status", "nothing"), 2)
    _synced(dcosctl, str(specs), "--name", "shop-prod")
    assert dcosctl("sync", "status", "shop-prod").exit_code == 0
    (tmp_path / "more").mkdir()
    _synced(dcosctl, str(tmp_path / "more"))
    assert "recorded: more, shop-prod" in check_error(dcosctl("sync", "status"), 2)
    assert dcosctl("sync", "status", "--dir", str(specs), "shop-prod").exit_code == 0
    check_error(dcosctl("sync", "run", str(tmp_path / "absent")))


def test_the_installed_command_syncs_every_kind_of_the_repository_specs(
    etcd_endpoint: str, prefix: str, tmp_path: Path
) -> None:
    folder = tmp_path / "specs"
    shutil.copytree(Path(__file__).parents[2] / "specs", folder)
    argv = [str(Path(sys.executable).parent / "dcosctl"), "--etcd", etcd_endpoint]
    argv += ["--prefix", prefix, "sync", str(folder)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCOS_")}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = {line.split("/")[0] for line in done.stdout.splitlines() if line.endswith(" created")}
    assert {"AgentSet", "App", "Domain", "Host", "IPPool", "ScalingPolicy"} <= kinds
