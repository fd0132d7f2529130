"""Whatever the input, loading either returns manifests or raises SpecError.

Inputs are random text, random JSON-like documents, and valid manifests with
random fields deleted, replaced or renamed. Against the real store, a
multi-document input with any invalid document writes nothing.
"""

from __future__ import annotations

import copy
import io
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.protocols import Store
from crds.errors import SpecError
from reconciler.apply import Manifest, apply_manifests, load_manifests

FUZZ = settings(max_examples=150, deadline=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
yaml_text = st.text(
    alphabet="-:{}[]#&*!|>'\"%@`,?.\\ \n\tabkindspec0192\u00e9\x00\ufeff", max_size=120
)

VALID: list[dict[str, Any]] = [
    {
        "apiVersion": "dcos/v1",
        "kind": "Widget",
        "metadata": {"name": "web", "domain": "checkout", "labels": {"app": "web"}},
        "spec": {
            "image": "web:1",
            "instances": 2,
            "env": {"TZ": "Asia/Shanghai"},
            "ports": [{"name": "http", "number": 80}],
            "upgradeStrategy": {"minimumHealthCapacity": 0.5},
        },
    },
    {
        "apiVersion": "dcos/v1",
        "kind": "Gadget",
        "metadata": {"name": "box", "annotations": {"note": "x"}},
        "spec": {"size": 3, "tags": ["a", "b"], "color": "red"},
    },
]


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid manifest with up to four random edits somewhere inside it."""
    doc: Any = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        node = doc
        while True:
            keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            edit = draw(st.sampled_from(["delete", "replace", "rename"]))
            if edit == "replace" or isinstance(node, list):
                node[key] = draw(json_values)
            elif edit == "delete":
                del node[key]
            else:
                node[draw(st.text(max_size=8))] = node.pop(key)
            break
    return doc


def load(text: str) -> list[Manifest] | None:
    """Load ``text`` from stdin; None when it is refused with a SpecError (and only then)."""
    try:
        manifests = load_manifests(["-"], stdin=io.StringIO(text))
    except SpecError as err:
        assert "\n" not in str(err)
        return None
    assert all(isinstance(m, Manifest) for m in manifests)
    return manifests


@FUZZ
@given(yaml_text)
def test_random_text_loads_or_is_a_spec_error(text: str) -> None:
    load(text)


@FUZZ
@given(st.lists(json_values, min_size=1, max_size=3))
def test_random_documents_load_or_are_a_spec_error(docs: list[Any]) -> None:
    load(yaml.safe_dump_all(docs))


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=3))
def test_mutated_manifests_load_or_are_a_spec_error(docs: list[Any]) -> None:
    load(yaml.safe_dump_all(docs))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80) | json_values.map(lambda v: yaml.safe_dump(v)))
def test_random_json_files_load_or_are_a_spec_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "m.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_manifests([str(path)])
        except SpecError as err:
            assert "\n" not in str(err)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from(VALID), min_size=0, max_size=2),
    mutated(),
    st.lists(st.sampled_from(VALID), min_size=0, max_size=2),
)
async def test_an_invalid_document_anywhere_writes_nothing(
    store: Store, before: list[Any], middle: Any, after: list[Any]
) -> None:
    names = iter(f"n{i}" for i in range(10))
    docs = [copy.deepcopy(d) for d in before] + [middle] + [copy.deepcopy(d) for d in after]
    for doc in docs:  # distinct names, so duplicates are not the only error
        if doc is not middle:
            doc["metadata"]["name"] = next(names)
    revision = await store.revision()
    manifests = load(yaml.safe_dump_all(docs))
    if manifests is None:
        assert await store.revision() == revision
        return
    try:
        await apply_manifests(store, manifests)
    except SpecError:
        assert await store.revision() == revision
