"""The three-way merge behind ``dcosctl apply``: pure functions on wire dicts.

``apply`` is declarative, so it must tell three kinds of fields apart in a
live object: those the file sets, those the file *used* to set and no longer
does, and those someone else set (a controller, ``dcosctl scale``, a human
with ``dcosctl edit``). It does so the way ``kubectl apply`` does for custom
resources, with JSON merge patch semantics (RFC 7386):

* ``last`` is the previously applied document, kept as JSON in the live
  object's :data:`LAST_APPLIED` annotation (wire form, without status and
  without the tool's own annotations);
* ``desired`` is the document in the file now, as written: only the
  fields its author set (pydantic's ``exclude_unset``), without defaults;
* ``live`` is what the store holds.

:func:`three_way_merge` returns ``live`` with

1. every field that is in ``last`` but gone from ``desired`` removed, and
2. every field of ``desired`` set to the file's value (drift in fields the
   file names is corrected, as kubectl does).

Mappings merge key by key; lists and scalars are replaced whole. Fields that
are in neither ``last`` nor ``desired`` are left as they are, so fields set by
others survive. Without a ``last`` (an object created some other way) nothing
is removed. A field gone from the file is removed whole, except
``metadata.labels`` and ``metadata.annotations``: those maps are shared, so
only the keys the file had set are removed.

:func:`merged_object` wraps that for one typed object: it computes the
annotation, merges, and validates the result through
:func:`crds.registry.parse_object`, so a merge that produces an invalid object
is a :class:`SpecError` naming the manifest. :mod:`reconciler.apply.apply`
decides from the result what to write; :mod:`reconciler.apply.diff` shows it.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from pydantic import ValidationError

from crds.errors import SpecError
from crds.meta import Resource
from crds.registry import parse_object
from reconciler.apply.manifests import describe_validation_error

__all__ = [
    "APPLYSET",
    "LAST_APPLIED",
    "TOOL_ANNOTATIONS",
    "desired_document",
    "json_merge_patch",
    "last_applied",
    "merged_object",
    "three_way_merge",
]

logger = logging.getLogger(__name__)

LAST_APPLIED = "dcos/last-applied-configuration"
"""Annotation holding the JSON of the document last applied to the object."""

APPLYSET = "dcos/applyset"
"""Annotation naming the ApplySet the object was last applied with."""

TOOL_ANNOTATIONS = frozenset({LAST_APPLIED, APPLYSET})
"""Bookkeeping owned by apply: never part of the last-applied document."""

Wire = dict[str, Any]


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: ``target`` with ``patch`` applied; neither argument is changed.

    A mapping patch merges key by key and ``None`` removes a key; any other
    patch value (a list, a scalar) replaces the target whole.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: Wire = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def _removals(last: Wire, desired: Wire) -> Wire:
    """A merge patch removing what ``last`` had and ``desired`` no longer has."""
    patch: Wire = {}
    for key, old in last.items():
        if key not in desired:
            patch[key] = None
        elif isinstance(old, dict) and isinstance(desired[key], dict):
            inner = _removals(old, desired[key])
            if inner:
                patch[key] = inner
    return patch


def _overlay(live: Any, desired: Any) -> Any:
    """``desired`` laid over ``live``: mappings merge, everything else is replaced."""
    if not (isinstance(live, dict) and isinstance(desired, dict)):
        return copy.deepcopy(desired)
    result = dict(live)
    for key, value in desired.items():
        result[key] = _overlay(live.get(key), value)
    return result


def three_way_merge(last: Wire | None, desired: Wire, live: Wire | None) -> Wire:
    """``live`` updated to ``desired``, removing what only ``last`` had.

    ``desired`` must not contain ``None`` values (wire dicts never do: they
    are dumped without them). Inputs are not changed.
    """
    base = json_merge_patch(live or {}, _removals(last or {}, desired))
    merged = _overlay(base, desired)
    assert isinstance(merged, dict)
    return merged


def _without_tool_annotations(wire: Wire) -> Wire:
    metadata = wire.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("annotations"), dict):
        return wire
    annotations = {k: v for k, v in metadata["annotations"].items() if k not in TOOL_ANNOTATIONS}
    return {**wire, "metadata": {**metadata, "annotations": annotations}}


def desired_document(obj: Resource) -> Wire:
    """What the manifest says, in wire form: the fields its author set, without
    defaults filled in, status or tool annotations. This is what last-applied
    records, so a default never overwrites a value someone else set."""
    wire = obj.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    wire.pop("status", None)
    wire["apiVersion"] = obj.api_version
    wire["kind"] = obj.kind
    return _without_tool_annotations(wire)


def last_applied(live: Resource) -> Wire | None:
    """The document last applied to ``live``, or None when it has none (or it is unreadable)."""
    text = live.metadata.annotations.get(LAST_APPLIED)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        logger.warning("%s: ignoring an unreadable %s annotation", live.kind, LAST_APPLIED)
        return None
    return data if isinstance(data, dict) else None


def _encode(document: Wire) -> str:
    """Deterministic JSON, so reapplying the same file never looks like a change."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def merged_object(
    desired: Resource,
    live: Resource | None,
    *,
    applyset: str | None = None,
    source: str | None = None,
    document: int | None = None,
) -> Resource:
    """What the object becomes when ``desired`` is applied over ``live`` (None: absent).

    The result carries the new :data:`LAST_APPLIED` annotation and, when
    ``applyset`` is given, :data:`APPLYSET`; the live object's status is not
    part of it. Raises SpecError (naming ``source`` and ``document``) when the
    merged object is not valid.
    """
    doc = desired_document(desired)
    annotations: dict[str, str] = {LAST_APPLIED: _encode(doc)}
    if applyset is not None:
        annotations[APPLYSET] = applyset
    # Labels and annotations are shared maps: dropping all of them from the file
    # removes only the keys it had set, never the whole map.
    patch = json_merge_patch(doc, {"metadata": {"labels": {}, "annotations": annotations}})
    if live is None:
        merged = patch
    else:
        merged = three_way_merge(last_applied(live), patch, live.to_wire(with_status=False))
    try:
        return parse_object(merged)
    except ValidationError as exc:
        field, message = describe_validation_error(exc, merged)
        raise SpecError(
            f"merging with the live object gives an invalid object: {message}",
            source=source,
            document=document,
            field=field,
        ) from exc
    except SpecError as exc:
        raise SpecError(exc.message, source=source, document=document, field=exc.field) from exc
