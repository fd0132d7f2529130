"""Every mistake a user can make is one ``error:`` line and exit 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from localcluster.etcd import free_port

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""

APP = "apiVersion: dcos/v1\nkind: App\nmetadata:\n  name: web\n  domain: shop\nspec:\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(APP + "  image: x\n   instances: 3\n", ":8:", id="invalid-yaml"),
        pytest.param(APP.replace("App", "Gizmo") + "  image: x\n", "Gizmo", id="unknown-kind"),
        pytest.param(APP + "  image: x\n  imagee: y\n", "imagee", id="unknown-field"),
        pytest.param(APP + "  image: x\n---\n" + APP + "  image: y\n", "twice", id="duplicate"),
        pytest.param("apiVersion: v2\nkind: App\n", "apiVersion", id="wrong-api-version"),
        pytest.param(APP + "  instances: 2\n", "an image, or a command", id="no-image-no-command"),
    ],
)
def test_bad_manifest_is_one_error_line(
    dcosctl: Cli, tmp_path: Path, text: str, expected: str, check_error: ErrorCheck
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    line = check_error(dcosctl("apply", "-f", str(path)))
    assert str(path) in line
    assert expected in line


def test_invalid_yaml_names_file_line_and_column(
    dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(APP + "  image: x\n   instances: 3\n")
    line = check_error(dcosctl("apply", "-f", str(path)))
    assert f"{path}:8:" in line


def test_nothing_is_written_when_one_document_is_bad(
    dcosctl: Cli, tmp_path: Path, apps_file: Path, check_error: ErrorCheck
) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(apps_file.read_text() + "---\n" + APP + "  image: x\n  instances: -1\n")
    check_error(dcosctl("apply", "-f", str(path)))
    assert dcosctl("get", "apps", "-o", "name").stdout == ""


def test_missing_file(dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck) -> None:
    line = check_error(dcosctl("apply", "-f", str(tmp_path / "nope.yaml")))
    assert "nope.yaml" in line


def test_unknown_kind_on_the_command_line(dcosctl: Cli, check_error: ErrorCheck) -> None:
    line = check_error(dcosctl("get", "gizmos"))
    assert "gizmos" in line


def test_etcd_unreachable_names_the_endpoint(
    run_cli: Callable[..., Result], check_error: ErrorCheck
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    line = check_error(run_cli("--etcd", endpoint, "--timeout", "1", "get", "apps"))
    assert "127.0.0.1" in line
    assert endpoint.rsplit(":", 1)[1] in line


def test_bad_endpoint_url(run_cli: Callable[..., Result], check_error: ErrorCheck) -> None:
    line = check_error(run_cli("--etcd", "ftp://x:1", "get", "apps"))
    assert "ftp://x:1" in line


def test_usage_errors_exit_2(run_cli: Callable[..., Result]) -> None:
    assert run_cli("get").exit_code == 2
    assert run_cli("get", "apps", "-o", "xml").exit_code == 2
    assert run_cli("frobnicate").exit_code == 2


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """The installed console script, not the in-process runner."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    script = Path(sys.executable).parent / "dcosctl"
    done = subprocess.run(
        [str(script), "--etcd", endpoint, "--timeout", "1", "get", "apps"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ")
