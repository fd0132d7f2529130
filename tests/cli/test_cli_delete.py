"""delete by name and by file; finalizers; not found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""


def test_delete_by_kind_and_name(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("delete", "app", "cart", "payment", "-d", "checkout")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "App/checkout/cart deleted",
        "App/checkout/payment deleted",
    ]
    left = dcosctl("get", "apps", "-o", "name")
    assert left.stdout.splitlines() == ["App/search/indexer"]


def test_delete_by_file(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("delete", "-f", str(applied))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    assert dcosctl("get", "apps", "-o", "name").stdout == ""


def test_delete_held_by_finalizers_says_deleting(dcosctl: Cli, tmp_path: Path) -> None:
    path = tmp_path / "held.yaml"
    path.write_text(
        "apiVersion: dcos/v1\nkind: App\nmetadata:\n  name: held\n  domain: shop\n"
        "  finalizers: [dcos/instances]\nspec:\n  image: busybox:1\n"
    )
    assert dcosctl("apply", "-f", str(path)).exit_code == 0
    result = dcosctl("delete", "app", "held", "-d", "shop")
    assert result.exit_code == 0, result.output
    assert result.stdout == "App/shop/held deleting (finalizers: dcos/instances)\n"


def test_delete_not_found_is_one_error_line(
    dcosctl: Cli, applied: Path, check_error: ErrorCheck
) -> None:
    line = check_error(dcosctl("delete", "app", "ghost", "-d", "checkout"))
    assert "ghost" in line


def test_delete_needs_a_name_or_a_file(dcosctl: Cli, check_error: ErrorCheck) -> None:
    check_error(dcosctl("delete", "app"), code=2)
    check_error(dcosctl("delete", "app", "x", "-f", "y.yaml"), code=2)
