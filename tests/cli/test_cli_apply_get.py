"""apply, then get in every output form, against a real etcd."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import Result

Cli = Callable[..., Result]
ErrorCheck = Callable[..., str]
"""check_error(result, code=1) -> the one error line."""


def test_apply_prints_one_line_per_object(dcosctl: Cli, apps_file: Path) -> None:
    result = dcosctl("apply", "-f", str(apps_file))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "App/checkout/cart created",
        "App/checkout/payment created",
        "App/search/indexer created",
    ]
    again = dcosctl("apply", "-f", str(apps_file))
    assert again.stdout.splitlines()[0] == "App/checkout/cart unchanged"


def test_apply_dry_run_writes_nothing(dcosctl: Cli, apps_file: Path) -> None:
    result = dcosctl("apply", "-f", str(apps_file), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "App/checkout/cart created (dry run)"
    listed = dcosctl("get", "apps", "-o", "name")
    assert listed.exit_code == 0
    assert listed.stdout == ""


def test_apply_reads_stdin(dcosctl: Cli, apps_file: Path) -> None:
    result = dcosctl("apply", "-f", "-", input=apps_file.read_text())
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


def test_apply_prune_defaults_the_applyset_to_the_folder_name(
    dcosctl: Cli, tmp_path: Path, apps_file: Path
) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "apps.yaml").write_text(apps_file.read_text())
    first = dcosctl("apply", "-f", str(folder), "--prune")
    assert first.exit_code == 0, first.output
    assert "applyset: shop" in first.stderr
    text = apps_file.read_text()
    (folder / "apps.yaml").write_text(text[: text.index("---")])
    second = dcosctl("apply", "-f", str(folder), "--prune")
    assert second.exit_code == 0, second.output
    assert "App/checkout/payment pruned" in second.stdout
    assert "App/search/indexer pruned" in second.stdout


def test_get_table_lists_every_domain_with_a_domain_column(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("get", "apps")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["DOMAIN", "NAME", "INSTANCES", "READY", "HEALTHY", "AGE"]
    assert lines[1].split()[:3] == ["checkout", "cart", "6"]
    assert lines[1].split()[3:5] == ["<none>", "<none>"]
    assert len(lines) == 4
    assert dcosctl("get", "apps", "-A").stdout == result.stdout


def test_get_with_domain_drops_the_domain_column(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("get", "app", "-d", "checkout")
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "NAME"
    assert [line.split()[0] for line in lines[1:]] == ["cart", "payment"]


def test_get_wide_adds_the_wide_columns(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("get", "apps", "-d", "search", "-o", "wide")
    header, row = result.stdout.splitlines()
    expected = "NAME INSTANCES READY HEALTHY IMAGE POOL CPUS MEM AGE"
    assert header.split() == expected.split()
    assert "registry.example.com/search/indexer:5.0.0" in row


def test_get_json_list_shape(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("get", "apps", "-A", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"apiVersion", "kind", "items"}
    assert (data["apiVersion"], data["kind"]) == ("dcos/v1", "List")
    assert [item["metadata"]["name"] for item in data["items"]] == ["cart", "payment", "indexer"]
    assert data["items"][0]["spec"]["instances"] == 6


def test_get_json_of_one_object_is_the_object(dcosctl: Cli, applied: Path) -> None:
    data = json.loads(dcosctl("get", "app", "cart", "-d", "checkout", "-o", "json").stdout)
    assert data["kind"] == "App"
    assert data["metadata"]["name"] == "cart"
    assert data["metadata"]["resourceVersion"]


def test_get_yaml_list_and_object(dcosctl: Cli, applied: Path) -> None:
    listed = yaml.safe_load(dcosctl("get", "apps", "-o", "yaml").stdout)
    assert listed["kind"] == "List"
    assert len(listed["items"]) == 3
    one = yaml.safe_load(dcosctl("get", "apps", "indexer", "-d", "search", "-o", "yaml").stdout)
    assert one["spec"]["image"] == "registry.example.com/search/indexer:5.0.0"


def test_get_name_output(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("get", "apps", "-o", "name")
    assert result.stdout.splitlines() == [
        "App/checkout/cart",
        "App/checkout/payment",
        "App/search/indexer",
    ]


def test_get_selector(dcosctl: Cli, applied: Path) -> None:
    result = dcosctl("get", "apps", "-l", "tier=backend", "-o", "name")
    assert result.stdout.splitlines() == ["App/checkout/payment", "App/search/indexer"]
    result = dcosctl("get", "apps", "-d", "checkout", "-l", "tier!=backend", "-o", "name")
    assert result.stdout.splitlines() == ["App/checkout/cart"]


def test_get_empty_list_says_so_on_stderr(dcosctl: Cli) -> None:
    result = dcosctl("get", "domains")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "No domains found.\n"


def test_get_cluster_scoped_kind(dcosctl: Cli, tmp_path: Path) -> None:
    path = tmp_path / "domains.yaml"
    path.write_text(
        "apiVersion: dcos/v1\nkind: Domain\nmetadata:\n  name: checkout\nspec:\n  priority: 900\n"
    )
    assert dcosctl("apply", "-f", str(path)).stdout == "Domain/checkout created\n"
    lines = dcosctl("get", "domains", "-A").stdout.splitlines()
    assert lines[0].split()[0] == "NAME"
    assert lines[1].split()[:2] == ["checkout", "900"]
    one = dcosctl("get", "dom", "checkout", "-o", "name")
    assert one.stdout == "Domain/checkout\n"


def test_get_one_object_of_a_domain_scoped_kind_needs_a_domain(
    dcosctl: Cli, applied: Path, check_error: ErrorCheck
) -> None:
    line = check_error(dcosctl("get", "app", "cart"), code=2)
    assert "-d DOMAIN" in line


def test_get_missing_object_is_one_error_line(
    dcosctl: Cli, applied: Path, check_error: ErrorCheck
) -> None:
    line = check_error(dcosctl("get", "app", "nope", "-d", "checkout"))
    assert "nope" in line


def test_get_domain_and_all_domains_exclude_each_other(
    dcosctl: Cli, check_error: ErrorCheck
) -> None:
    check_error(dcosctl("get", "apps", "-d", "x", "-A"), code=2)
