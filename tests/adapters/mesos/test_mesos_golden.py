"""Every JSON example of the Mesos docs parses and re-serialises unchanged.

The examples live in ``golden/`` (one file each, errata applied and listed in
``golden/ERRATA.md``). The file name says which message it is:
``<doc>.<section>.<kind>.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from adapters.mesos import (
    OperatorCall,
    OperatorEvent,
    OperatorResponse,
    Resource,
    SchedulerCall,
    SchedulerEvent,
    dumps,
    from_json,
    to_json,
)

GOLDEN = Path(__file__).parent / "golden"

MODEL_FOR: dict[tuple[str, str], type[BaseModel]] = {
    ("scheduler-http-api", "request"): SchedulerCall,
    ("scheduler-http-api", "event"): SchedulerEvent,
    ("operator-http-api", "request"): OperatorCall,
    ("operator-http-api", "response"): OperatorResponse,
    ("operator-http-api", "event"): OperatorEvent,
    ("README", "event"): SchedulerEvent,
    ("README", "resource"): Resource,
}

GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))


def model_for(path: Path) -> type[BaseModel]:
    parts = path.name.split(".")
    return MODEL_FOR[(parts[0], parts[-2])]


def canonical(value: Any) -> Any:
    """JSON equality that ignores key order and int/float spelling, not bool/number."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return value


def unmodelled_keys(value: Any) -> Iterator[str]:
    """``Model.key`` for every key kept only as an unknown (extra) field."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            yield f"{type(value).__name__}.{key}"
        for name in type(value).model_fields:
            yield from unmodelled_keys(getattr(value, name))
    elif isinstance(value, list):
        for item in value:
            yield from unmodelled_keys(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from unmodelled_keys(item)


def test_golden_set_covers_both_apis() -> None:
    kinds = {(p.name.split(".")[0], p.name.split(".")[-2]) for p in GOLDEN_FILES}
    assert kinds == set(MODEL_FOR)
    assert len(GOLDEN_FILES) >= 90


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_golden_example_round_trips(path: Path) -> None:
    expected = json.loads(path.read_text())
    model = from_json(model_for(path), path.read_bytes())

    assert canonical(to_json(model)) == canonical(expected)
    assert canonical(json.loads(dumps(model))) == canonical(expected)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_golden_example_is_fully_typed(path: Path) -> None:
    """No documented field falls through to the untyped extras."""
    model = from_json(model_for(path), path.read_bytes())

    assert sorted(set(unmodelled_keys(model))) == []
