"""``dcos-controller run --dashboard/--no-dashboard``: on by default, off by flag or file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.controller import _parser, main
from cli.controller_config import check, resolve


def _resolved(argv: list[str]) -> argparse.Namespace:
    args = _parser().parse_args(["run", *argv])
    resolve(args, {})
    check(args)
    return args


def test_the_dashboard_is_on_unless_turned_off(tmp_path: Path) -> None:
    assert _resolved([]).dashboard is True
    assert _resolved(["--no-dashboard"]).dashboard is False
    path = tmp_path / "controller.yaml"
    path.write_text("dashboard: false\n")
    assert _resolved(["--config", str(path)]).dashboard is False
    assert _resolved(["--config", str(path), "--dashboard"]).dashboard is True  # flag over file


def test_a_dashboard_setting_that_is_not_a_boolean_names_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text("dashboard: sometimes\n")
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"dcos-controller: error: {path}: field dashboard: expected true or false, got 'sometimes'"
    )
