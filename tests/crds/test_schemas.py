"""The committed JSON schemas match the models, and the generator CLI behaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crds.kinds import ALL_KINDS
from crds.schemas import SCHEMA_DIR, main, render_all, stale_files


def test_committed_schemas_are_fresh() -> None:
    stale = stale_files(SCHEMA_DIR)
    assert stale == [], f"stale schemas {stale}: run `make schemas` and commit crds/schemas/"


def test_every_kind_has_one_schema_file() -> None:
    assert sorted(render_all()) == sorted(f"{cls.__name__}.json" for cls in ALL_KINDS)


def test_rendering_is_deterministic_sorted_and_newline_terminated() -> None:
    first, second = render_all(), render_all()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_schemas_use_wire_names_and_carry_descriptions() -> None:
    app = json.loads(render_all()["App.json"])
    spec = app["$defs"]["AppSpec"]["properties"]
    assert "healthChecks" in spec and "health_checks" not in spec
    assert all("description" in prop for prop in spec.values())


def test_cli_writes_then_check_passes_and_detects_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    (tmp_path / "App.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "Gone.json").write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "App.json" in err and "Gone.json" in err and "Host.json" not in err
    assert main(["--dir", str(tmp_path)]) == 0
    assert not (tmp_path / "Gone.json").exists()
    assert stale_files(tmp_path) == []


def test_every_field_is_documented_for_explain() -> None:
    undocumented = []
    for name, text in render_all().items():
        schema = json.loads(text)
        defs = schema.get("$defs", {})
        for owner, definition in [*defs.items(), ("(root)", schema)]:
            for field, prop in definition.get("properties", {}).items():
                ref = prop.get("$ref", "").rsplit("/", 1)[-1]
                if "description" not in prop and "description" not in defs.get(ref, {}):
                    undocumented.append(f"{name} {owner}.{field}")
    assert undocumented == []
