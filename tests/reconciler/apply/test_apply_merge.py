"""The three-way merge as tables: last applied, desired, live -> merged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crds.errors import SpecError
from crds.registry import parse_object
from reconciler.apply.merge import (
    APPLYSET,
    LAST_APPLIED,
    json_merge_patch,
    last_applied,
    merged_object,
    three_way_merge,
)


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param({"a": 1}, {"a": 2}, {"a": 2}, id="replace-scalar"),
        pytest.param({"a": 1, "b": 2}, {"a": None}, {"b": 2}, id="null-removes"),
        pytest.param({"a": 1}, {"z": None}, {"a": 1}, id="null-on-absent-is-noop"),
        pytest.param(
            {"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}, id="nested"
        ),
        pytest.param({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}, id="list-replaced"),
        pytest.param({"a": 1}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}, id="scalar-to-map"),
        pytest.param([1], {"a": 1}, {"a": 1}, id="non-map-target"),
        pytest.param({"a": 1}, [1, 2], [1, 2], id="non-map-patch"),
    ],
)
def test_json_merge_patch_follows_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before = json.dumps(target)
    assert json_merge_patch(target, patch) == expected
    assert json.dumps(target) == before  # inputs untouched


@pytest.mark.parametrize(
    ("last", "desired", "live", "expected"),
    [
        pytest.param(None, {"a": 1}, None, {"a": 1}, id="create"),
        pytest.param({"a": 1}, {"a": 2}, {"a": 1}, {"a": 2}, id="file-changes-field"),
        pytest.param(
            {"a": 1, "b": 2}, {"a": 1}, {"a": 1, "b": 2}, {"a": 1}, id="removed-from-file"
        ),
        pytest.param({"a": 1}, {"a": 1}, {"a": 1, "c": 3}, {"a": 1, "c": 3}, id="others-survive"),
        pytest.param(
            {"m": {"x": 1, "y": 2}},
            {"m": {"x": 1}},
            {"m": {"x": 1, "y": 2, "z": 9}},
            {"m": {"x": 1, "z": 9}},
            id="nested-removal-keeps-others",
        ),
        pytest.param(
            {"l": [1, 2]}, {"l": [3]}, {"l": [1, 2, 7]}, {"l": [3]}, id="lists-replaced-whole"
        ),
        pytest.param({"a": 1}, {"a": 1}, {"a": 5}, {"a": 1}, id="drift-in-file-field-corrected"),
        pytest.param(
            None, {"a": 1}, {"a": 1, "b": 2}, {"a": 1, "b": 2}, id="no-last-removes-nothing"
        ),
        pytest.param(
            {"m": {"x": 1}}, {"m": 3}, {"m": {"x": 1, "y": 2}}, {"m": 3}, id="map-to-scalar"
        ),
        pytest.param({"m": 3}, {"m": {"x": 1}}, {"m": 3}, {"m": {"x": 1}}, id="scalar-to-map"),
        pytest.param(
            {"a": 1, "m": {"x": 1}}, {}, {"a": 1, "m": {"x": 1}, "o": 1}, {"o": 1}, id="all-removed"
        ),
        pytest.param(
            {"m": {"x": 1}},
            {"m": {"x": 1}},
            {"m": "someone-else"},
            {"m": {"x": 1}},
            id="live-type-changed-by-others",
        ),
    ],
)
def test_three_way_merge(
    last: dict[str, Any] | None,
    desired: dict[str, Any],
    live: dict[str, Any] | None,
    expected: dict[str, Any],
) -> None:
    assert three_way_merge(last, desired, live) == expected


def widget(spec: dict[str, Any], **metadata: Any) -> Any:
    return parse_object(
        {
            "apiVersion": "dcos/v1",
            "kind": "Widget",
            "metadata": {"name": "web", "domain": "checkout", **metadata},
            "spec": spec,
        }
    )


def test_merged_object_records_last_applied_without_tool_annotations() -> None:
    desired = widget({"image": "web:1"}, annotations={"note": "x", APPLYSET: "other"})
    merged = merged_object(desired, None, applyset="shop")
    annotations = merged.metadata.annotations
    assert annotations[APPLYSET] == "shop"
    assert annotations["note"] == "x"
    recorded = json.loads(annotations[LAST_APPLIED])
    assert recorded == {
        "apiVersion": "dcos/v1",
        "kind": "Widget",
        "metadata": {"name": "web", "domain": "checkout", "annotations": {"note": "x"}},
        "spec": {"image": "web:1"},
    }


def test_merged_object_keeps_fields_others_set_and_live_identity() -> None:
    first = merged_object(widget({"image": "web:1", "instances": 2, "command": "run"}), None)
    live = first.model_copy(
        update={
            "metadata": first.metadata.model_copy(
                update={
                    "uid": "u-1",
                    "resource_version": "7",
                    "labels": {**first.metadata.labels, "team": "ops"},
                }
            )
        }
    )
    merged = merged_object(widget({"image": "web:2", "instances": 2}), live)
    assert merged.spec.image == "web:2"
    assert merged.spec.command is None  # removed from the file
    assert merged.metadata.labels == {"team": "ops"}  # set by someone else
    assert merged.metadata.uid == "u-1"
    assert merged.metadata.resource_version == "7"
    assert last_applied(merged) == json.loads(merged.metadata.annotations[LAST_APPLIED])


def test_merged_object_reapplying_is_stable() -> None:
    desired = widget({"image": "web:1", "env": {"B": "2", "A": "1"}})
    first = merged_object(desired, None)
    second = merged_object(desired, first)
    assert second.to_wire() == first.to_wire()


def test_merged_object_ignores_an_unreadable_last_applied() -> None:
    live = widget({"image": "web:1", "command": "x"}, annotations={LAST_APPLIED: "{not json"})
    merged = merged_object(widget({"image": "web:2"}), live)
    assert merged.spec.command == "x"  # nothing known to remove
    assert merged.spec.image == "web:2"


def test_merged_object_that_is_invalid_names_the_manifest() -> None:
    live = widget({"image": "web:1"}, annotations={LAST_APPLIED: "{}"})
    bad = live.model_copy(update={"spec": live.spec.model_copy(update={"instances": -3})})
    # The live object carries an invalid field the file does not mention.
    with pytest.raises(SpecError) as err:
        merged_object(widget({"image": "web:2"}), bad, source="w.yaml", document=2)
    text = str(err.value)
    assert text.startswith("w.yaml: document 2: spec.instances: merging with the live object")
    assert "\n" not in text


def test_merged_object_defaults_do_not_overwrite_values_others_set() -> None:
    first = merged_object(widget({"image": "web:1"}), None)
    scaled = first.model_copy(update={"spec": first.spec.model_copy(update={"instances": 5})})
    merged = merged_object(widget({"image": "web:1", "cpus": 0.5}), scaled)
    assert merged.spec.instances == 5
    assert merged.spec.cpus == 0.5
    recorded = json.loads(merged.metadata.annotations[LAST_APPLIED])
    assert recorded["spec"] == {"image": "web:1", "cpus": 0.5}


def test_dropping_every_label_from_the_file_keeps_labels_others_set() -> None:
    first = merged_object(widget({"image": "web:1"}, labels={"app": "web"}), None)
    meta = first.metadata.model_copy(update={"labels": {"app": "web", "team": "ops"}})
    live = first.model_copy(update={"metadata": meta})
    merged = merged_object(widget({"image": "web:1"}), live)
    assert merged.metadata.labels == {"team": "ops"}


def _maps(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from("abcde")
    return st.recursive(
        st.dictionaries(keys, leaves, max_size=4),
        lambda inner: st.dictionaries(keys, leaves | inner, max_size=4),
        max_leaves=12,
    )


_leaves = st.integers(0, 3) | st.lists(st.integers(0, 3), max_size=2)


@settings(max_examples=200, deadline=None)
@given(st.none() | _maps(_leaves), _maps(_leaves), st.none() | _maps(_leaves))
def test_three_way_merge_properties(
    last: dict[str, Any] | None, desired: dict[str, Any], live: dict[str, Any] | None
) -> None:
    merged = three_way_merge(last, desired, live)
    # Everything the file says holds in the result.
    assert json_merge_patch(merged, desired) == merged
    # A top-level field the file dropped is gone.
    for key in set(last or {}) - set(desired):
        assert key not in merged
    # A top-level field nobody applied is untouched.
    for key in set(live or {}) - set(last or {}) - set(desired):
        assert merged[key] == (live or {})[key]
    # Applying the same file again changes nothing.
    assert three_way_merge(desired, desired, merged) == merged
