"""diff exit codes, as kubectl diff: 0 same, 1 different, 2 error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""


def test_diff_exit_codes(dcosctl: Cli, apps_file: Path) -> None:
    before = dcosctl("diff", "-f", str(apps_file))
    assert before.exit_code == 1, before.output
    assert "+  name: cart" in before.stdout or "name: cart" in before.stdout
    assert dcosctl("apply", "-f", str(apps_file)).exit_code == 0
    same = dcosctl("diff", "-f", str(apps_file))
    assert (same.exit_code, same.stdout) == (0, "")
    apps_file.write_text(apps_file.read_text().replace("instances: 6", "instances: 8"))
    changed = dcosctl("diff", "-f", str(apps_file))
    assert changed.exit_code == 1
    assert "-  instances: 6" in changed.stdout
    assert "+  instances: 8" in changed.stdout


def test_diff_of_a_bad_file_exits_2(dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: dcos/v1\nkind: App\nmetadata: [\n")
    line = check_error(dcosctl("diff", "-f", str(path)), code=2)
    assert str(path) in line


def test_diff_of_a_missing_file_exits_2(
    dcosctl: Cli, tmp_path: Path, check_error: ErrorCheck
) -> None:
    check_error(dcosctl("diff", "-f", str(tmp_path / "nope.yaml")), code=2)
