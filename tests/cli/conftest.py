"""Helpers for the dcosctl tests: an isolated environment, a unique key prefix
per test and a runner that points the CLI at the test run's etcd."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app

APPS = """\
apiVersion: dcos/v1
kind: App
metadata:
  name: cart
  domain: checkout
  labels:
    tier: web
spec:
  image: registry.example.com/checkout/cart:2.3.1
  instances: 6
---
apiVersion: dcos/v1
kind: App
metadata:
  name: payment
  domain: checkout
  labels:
    tier: backend
spec:
  image: registry.example.com/checkout/payment:1.14.0
  instances: 3
---
apiVersion: dcos/v1
kind: App
metadata:
  name: indexer
  domain: search
  labels:
    tier: backend
spec:
  image: registry.example.com/search/indexer:5.0.0
  instances: 2
"""


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user config, no DCOS_* variables, no terminal width from the caller."""
    for name in ("DCOS_ETCD", "DCOS_CONFIG", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))


@pytest.fixture
def prefix(etcd_prefix: str) -> str:
    """This test's own key prefix (the shared fixture's)."""
    return etcd_prefix


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Invoke dcosctl in-process with exactly ``args``."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def dcosctl(
    etcd_endpoint: str, prefix: str, run_cli: Callable[..., Result]
) -> Callable[..., Result]:
    """Invoke dcosctl against the test run's etcd, under this test's prefix."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return run_cli("--etcd", etcd_endpoint, "--prefix", prefix, *args, input=input)

    return invoke


@pytest.fixture
def apps_file(tmp_path: Path) -> Path:
    path = tmp_path / "apps.yaml"
    path.write_text(APPS)
    return path


@pytest.fixture
def applied(dcosctl: Callable[..., Result], apps_file: Path) -> Path:
    """The three apps of :data:`APPS`, applied."""
    result = dcosctl("apply", "-f", str(apps_file))
    assert result.exit_code == 0, result.output
    return apps_file


@pytest.fixture
def check_error() -> Callable[..., str]:
    """``check_error(result, code=1)``: the command failed with ``code`` and printed
    exactly one ``error:`` line on stderr and no traceback; returns that line."""

    def check(result: Result, code: int = 1) -> str:
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), lines[0]
        assert "Traceback" not in result.output
        return lines[0]

    return check
