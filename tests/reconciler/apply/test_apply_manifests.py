"""Reading manifests: what loads, and the one-line error for what does not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from crds.errors import SpecError
from reconciler.apply import Manifest, load_manifests

WIDGET = """\
apiVersion: dcos/v1
kind: Widget
metadata: {name: web, domain: checkout}
spec:
  image: "web:1"
"""
GADGET = """\
apiVersion: dcos/v1
kind: Gadget
metadata: {name: box}
spec: {size: 3}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def names(manifests: list[Manifest]) -> list[tuple[str, str, int]]:
    return [(m.obj.kind, m.obj.metadata.name, m.document) for m in manifests]


def test_multi_document_yaml_skips_empty_documents(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", f"---\n{WIDGET}---\n---\n# only a comment\n---\n{GADGET}")
    manifests = load_manifests([path])
    assert names(manifests) == [("Widget", "web", 1), ("Gadget", "box", 4)]
    assert {m.source for m in manifests} == {path}


def test_list_kind_expands_items(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "dcos/v1",
                "kind": "Gadget",
                "metadata": {"name": n},
                "spec": {"size": 1},
            }
            for n in ("a", "b")
        ],
    }
    path = write(tmp_path, "list.json", json.dumps(doc))
    assert names(load_manifests([path])) == [("Gadget", "a", 1), ("Gadget", "b", 1)]


def test_directory_reads_manifest_files_sorted(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", GADGET)
    write(tmp_path, "a.yaml", WIDGET)
    write(tmp_path, "notes.txt", "not: a manifest")
    write(tmp_path, "sub/c.yaml", GADGET.replace("box", "crate"))
    write(tmp_path, ".git/d.yaml", GADGET.replace("box", "hidden"))
    flat = load_manifests([str(tmp_path)])
    assert [m.obj.metadata.name for m in flat] == ["web", "box"]
    deep = load_manifests([str(tmp_path)], recursive=True)
    assert [m.obj.metadata.name for m in deep] == ["web", "box", "crate"]


def test_stdin_is_read_for_dash() -> None:
    manifests = load_manifests(["-"], stdin=io.StringIO(WIDGET))
    assert names(manifests) == [("Widget", "web", 1)]
    assert manifests[0].source == "<stdin>"


def test_status_and_server_metadata_are_dropped_silently(tmp_path: Path) -> None:
    server = (
        "{name: box, uid: u-1, resourceVersion: '12', generation: 3,"
        " creationTimestamp: '2026-01-01T00:00:00Z', deletionTimestamp: '2026-01-02T00:00:00Z'}"
    )
    text = GADGET.replace("{name: box}", server) + "status: {observedGeneration: 3}\n"
    [manifest] = load_manifests([write(tmp_path, "s.yaml", text)])
    meta = manifest.obj.metadata
    assert manifest.obj.status.observed_generation is None
    assert (meta.uid, meta.resource_version, meta.generation) == (None, None, None)
    assert meta.creation_timestamp is None and meta.deletion_timestamp is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "apiVersion: dcos/v1\nkind: Gadget\nmetadata: {name: box\nspec: {}\n",
            "{path}:4:5: did not find expected ',' or '}}'",
            id="yaml-syntax",
        ),
        pytest.param(
            "a: 1\n  b: 2\n",
            "{path}:2:4: mapping values are not allowed in this context",
            id="yaml-indent",
        ),
        pytest.param(
            GADGET + "kind: Widget\n", "{path}:5:1: found duplicate key 'kind'", id="duplicate-key"
        ),
        pytest.param(
            "- 1\n- 2\n",
            "{path}: document 1: expected a mapping with apiVersion, kind, metadata and spec, "
            "got a list",
            id="not-a-mapping",
        ),
        pytest.param(
            GADGET.replace("Gadget", "Gizmo"),
            "{path}: document 1: kind: unknown kind 'Gizmo' (known kinds: ",
            id="unknown-kind",
        ),
        pytest.param(
            GADGET.replace("dcos/v1", "apps/v1"),
            "{path}: document 1: apiVersion: unknown apiVersion 'apps/v1' (expected 'dcos/v1')",
            id="unknown-api-version",
        ),
        pytest.param(
            f"{GADGET}---\n{WIDGET}  upgradeStrategy: {{minimumHealthCapacity: 2}}\n",
            "{path}: document 2: spec.upgradeStrategy.minimumHealthCapacity: "
            "Input should be less than or equal to 1",
            id="invalid-nested-field",
        ),
        pytest.param(
            WIDGET + "  replicas: 3\n",
            "{path}: document 1: spec.replicas: Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            WIDGET + "  ports: [{name: http, number: 80}, {number: 0}]\n",
            "{path}: document 1: spec.ports[1].name: Field required (+1 more)",
            id="list-item-field-and-more",
        ),
        pytest.param(
            "apiVersion: dcos/v1\nkind: Widget\nmetadata: {name: web}\nspec: {image: x}\n",
            "{path}: document 1: Value error, Widget is domain-scoped: metadata.domain is required",
            id="scope",
        ),
        pytest.param(
            WIDGET + "  command: [run\n",
            "{path}:6:12: while parsing a flow sequence: did not find expected ',' or ']'",
            id="unclosed-bracket-names-where-it-opened",
        ),
        pytest.param(
            f"{GADGET}---\n{WIDGET}---\n{GADGET}",
            "{path}: document 3: Gadget box is defined twice: in {path}: document 1 "
            "and in {path}: document 3",
            id="duplicate-object",
        ),
        pytest.param(
            "kind: List\nitems: {a: 1}\n",
            "{path}: document 1: items: a List needs a list of items, got a mapping",
            id="list-without-items",
        ),
        pytest.param(
            "kind: List\nitems:\n- "
            + GADGET.replace("\n", "\n  ").rstrip()
            + "\n- {apiVersion: dcos/v1, kind: 3}\n",
            "{path}: document 1: items[1].kind: unknown kind 3",
            id="list-item-invalid",
        ),
        pytest.param(
            "a: &x [*x]\n", "{path}: unsupported document: Circular reference detected", id="cycle"
        ),
        pytest.param(
            "a: \x00\n", "{path}: invalid YAML: unacceptable character", id="control-char"
        ),
    ],
)
def test_invalid_input_is_one_line_spec_error(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "m.yaml", text)
    with pytest.raises(SpecError) as err:
        load_manifests([path])
    message = str(err.value)
    assert message.startswith(expected.format(path=path)), message
    assert "\n" not in message


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "m.json", '{\n  "kind": "Gadget",\n  oops\n}')
    with pytest.raises(SpecError, match=r"m\.json:3:3: Expecting property name"):
        load_manifests([path])


def test_duplicates_across_files_name_both_files(tmp_path: Path) -> None:
    first, second = write(tmp_path, "a.yaml", GADGET), write(tmp_path, "b.yaml", GADGET)
    with pytest.raises(SpecError) as err:
        load_manifests([first, second])
    assert f"in {first}: document 1 and in {second}: document 1" in str(err.value)


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=f"^{missing}: no such file or directory$"):
        load_manifests([missing])


def test_non_utf8_file_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"kind: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_manifests([str(path)])


def test_an_error_anywhere_returns_nothing(tmp_path: Path) -> None:
    good = write(tmp_path, "a.yaml", WIDGET)
    bad = write(tmp_path, "b.yaml", "kind: [\n")
    with pytest.raises(SpecError, match=r"b\.yaml:2:1"):
        load_manifests([good, bad])


def test_public_api_is_complete() -> None:
    import reconciler.apply as api

    assert len(api.__all__) == len(set(api.__all__))
    assert all(hasattr(api, name) for name in api.__all__)
    assert set(api.__all__) == {
        "APPLYSET",
        "LAST_APPLIED",
        "Action",
        "ApplyResult",
        "Manifest",
        "apply_manifests",
        "delete_objects",
        "diff_manifests",
        "load_manifests",
    }
    assert (api.LAST_APPLIED, api.APPLYSET) == (
        "dcos/last-applied-configuration",
        "dcos/applyset",
    )
    assert [a.value for a in api.Action] == [
        "created",
        "configured",
        "unchanged",
        "pruned",
        "deleted",
        "deleting",
    ]
