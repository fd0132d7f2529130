"""``dcosctl admin`` on a plaintext etcd of its own: the paths ``init`` takes on a re-run."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import Result

from localcluster.etcd import EtcdServer

DOMAIN = """\
apiVersion: dcos/v1
kind: Domain
metadata: {name: shop}
spec: {timezone: Asia/Shanghai}
"""


def _password(path: Path) -> str:
    password: str = yaml.safe_load(path.read_text())["contexts"][0]["etcd"]["password"]
    return password


def test_init_reruns_reset_a_lost_file_and_refuse_non_root(
    private_etcd: EtcdServer,
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    users = tmp_path / "users"
    etcd = ("--etcd", private_etcd.endpoint)
    assert run_cli(*etcd, "apply", "-f", "-", input=DOMAIN).exit_code == 0
    first = run_cli(*etcd, "admin", "init", "--dir", str(users))
    assert first.exit_code == 0, first.output
    assert "without TLS" in first.stderr  # a warning, not an error
    assert re.search(r"^domain-shop\s+created\s", first.stdout, re.M)
    for user in ("viewer", "gitops"):
        assert re.search(rf"^{user}\s+created\s", first.stdout, re.M), first.stdout
        assert (users / f"{user}.yaml").stat().st_mode & 0o777 == 0o600
    assert (users / "dcos-controller.yaml").exists()

    lost = users / "domain-shop.yaml"
    old = _password(lost)
    lost.unlink()
    monkeypatch.setenv("DCOS_CONFIG", str(users / "root.yaml"))
    again = run_cli("admin", "init", "--dir", str(users))
    assert again.exit_code == 0, again.output
    assert re.search(r"^domain-shop\s+password reset \(no config file\)\s", again.stdout, re.M)
    for user in ("controller", "viewer", "gitops"):
        assert re.search(rf"^{user}\s+unchanged\s", again.stdout, re.M), again.stdout
    assert _password(lost) != old and old not in again.output

    monkeypatch.setenv("DCOS_CONFIG", str(lost))
    got = run_cli("get", "domains", "-o", "name")
    assert got.exit_code == 0 and "shop" in got.stdout, got.output
    refused = run_cli("admin", "init", "--dir", str(users))
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-1].startswith("error: etcd auth is on: run this as root")
    assert run_cli("admin", "domain", "Not_A_Label").exit_code == 2
