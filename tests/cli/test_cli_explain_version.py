"""explain (no etcd needed) and version (etcd up or down)."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result

from localcluster.etcd import free_port

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""


def test_explain_a_kind(run_cli: Callable[..., Result]) -> None:
    result = run_cli("explain", "App")
    assert result.exit_code == 0, result.output
    assert "KIND:     App" in result.stdout


def test_explain_a_field_path(run_cli: Callable[..., Result]) -> None:
    result = run_cli("explain", "apps.spec.backoff")
    assert result.exit_code == 0, result.output
    assert "backoffSeconds" in result.stdout


def test_explain_an_unknown_field(run_cli: Callable[..., Result], check_error: ErrorCheck) -> None:
    line = check_error(run_cli("explain", "App.spec.nope"))
    assert "nope" in line


def test_version_with_etcd_up(dcosctl: Cli) -> None:
    result = dcosctl("version")
    assert result.exit_code == 0, result.output
    client, server = result.stdout.splitlines()
    assert client.startswith("Client Version: ")
    assert server.startswith("Server Version: etcd 3.")


def test_version_with_etcd_down(run_cli: Callable[..., Result]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_cli("--etcd", endpoint, "--timeout", "1", "version")
    assert result.exit_code == 0, result.output
    client, server = result.stdout.splitlines()
    assert client.startswith("Client Version: 0.")
    assert server.startswith("Server Version: unreachable")
    assert endpoint in server
