"""``dcosctl explain``: documentation of a kind or one of its fields, from its schema.

The text comes from the same JSON schema that :mod:`crds.schemas` writes, so
the attribute docstrings in the models are the only documentation to keep up
to date. A path is a kind (by name, plural or short name, any case) followed
by wire field names: ``App``, ``apps.spec.healthChecks``,
``App.spec.upgradeStrategy.minimumHealthCapacity``. Walking the path follows
``$ref`` into ``$defs``, steps into array items and skips the ``null`` arm of
optional fields, as ``kubectl explain`` does. An unknown field raises
:class:`~crds.errors.SpecError` naming the valid fields at that level.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import crds.kinds  # noqa: F401  (registers every kind for resolve_kind)
from crds.errors import SpecError
from crds.meta import API_VERSION
from crds.registry import resolve_kind
from crds.schemas import schema_for

__all__ = ["explain"]

Schema = dict[str, Any]

_INDENT = "    "
_WIDTH = 88


def explain(path: str) -> str:
    """Describe the kind or field at ``path`` (``App``, ``apps.spec.healthChecks``)."""
    kind_name, *fields = path.strip().split(".")
    if not kind_name or any(not field for field in fields):
        raise SpecError(f"explain path {path!r} must look like App or App.spec.instances")
    cls = resolve_kind(kind_name)
    root = schema_for(cls)
    defs: dict[str, Schema] = root.get("$defs", {})
    kind = str(cls.model_fields["kind"].default)
    node: Schema = root
    walked = [kind]
    for field in fields:
        properties = _object_schema(node, defs).get("properties", {})
        if field not in properties:
            where = ".".join(walked)
            valid = ", ".join(sorted(properties)) or "none, it is not an object"
            raise SpecError(
                f"field {field!r} does not exist in {where}; valid fields: {valid}", field=path
            )
        node = properties[field]
        walked.append(field)
    return _render(kind=kind, fields=fields, node=node, defs=defs)


def _render(*, kind: str, fields: list[str], node: Schema, defs: dict[str, Schema]) -> str:
    lines = [f"KIND:     {kind}", f"VERSION:  {API_VERSION}", ""]
    if fields:
        lines += [f"FIELD:    {'.'.join(fields)} <{_type_name(node, defs)}>", ""]
    lines.append("DESCRIPTION:")
    lines += [_INDENT + line if line else "" for line in _descriptions(node, defs)]
    values = _enum_values(node, defs)
    if values:
        lines += ["", "VALUES:", _INDENT + ", ".join(values)]
    target = _object_schema(node, defs)
    if target.get("properties"):
        lines += ["", "FIELDS:", *_field_lines(target, defs)]
    return "\n".join(lines) + "\n"


def _field_lines(target: Schema, defs: dict[str, Schema]) -> list[str]:
    properties: dict[str, Schema] = target["properties"]
    required = set(target.get("required", []))
    width = max(len(name) for name in properties)
    lines = []
    for name, prop in properties.items():
        head = f"  {name.ljust(width)}  <{_type_name(prop, defs)}>"
        if name in required:
            head += "  -required-"
        elif prop.get("default") is not None:
            head += f"  default: {_short_json(prop['default'])}"
        lines.append(head)
        summary = _summary(prop, defs)
        if summary:
            wrapped = textwrap.wrap(summary, _WIDTH, initial_indent="      ")
            lines += [
                line if i == 0 else "      " + line.lstrip() for i, line in enumerate(wrapped)
            ]
    return lines


def _deref(node: Schema, defs: dict[str, Schema]) -> Schema:
    """``node`` with a ``$ref`` replaced by its definition (siblings such as description kept)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target = defs[ref.rsplit("/", 1)[-1]]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _non_null(node: Schema) -> list[Schema]:
    arms: list[Schema] = node.get("anyOf", [])
    return [arm for arm in arms if arm.get("type") != "null"]


def _object_schema(node: Schema, defs: dict[str, Schema]) -> Schema:
    """The object a field holds, looking through $ref, optional and array wrappers."""
    node = _deref(node, defs)
    objects = [arm for arm in _non_null(node) if _object_schema(arm, defs)]
    if len(objects) == 1:
        return _object_schema(objects[0], defs)
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        return _object_schema(node["items"], defs)
    return node if "properties" in node else {}


def _type_name(node: Schema, defs: dict[str, Schema]) -> str:
    if "$ref" in node:
        target = defs[str(node["$ref"]).rsplit("/", 1)[-1]]
        return "string" if "enum" in target else str(target.get("title", "Object"))
    arms = _non_null(node)
    if arms:
        return " | ".join(_type_name(arm, defs) for arm in arms)
    kind = node.get("type")
    if kind == "array":
        item = _type_name(node.get("items", {}), defs)
        return f"[]({item})" if " | " in item else f"[]{item}"
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            return "map[string]" + _type_name(extra, defs)
        return "Object"
    if isinstance(kind, str):
        return f"{kind} ({node['format']})" if "format" in node else kind
    return "any"


def _enum_values(node: Schema, defs: dict[str, Schema]) -> list[str]:
    node = _deref(node, defs)
    arms = _non_null(node)
    if len(arms) == 1:
        return _enum_values(arms[0], defs)
    return [str(value) for value in node.get("enum", [])]


def _descriptions(node: Schema, defs: dict[str, Schema]) -> list[str]:
    """The field's own description, then the description of the type it holds."""
    own = node.get("description")
    held = _object_schema(node, defs).get("description") or _deref(node, defs).get("description")
    texts = [text for text in (own, held) if isinstance(text, str)]
    if len(texts) == 2 and texts[0] == texts[1]:
        texts.pop()
    lines: list[str] = []
    for text in texts or ["(no description)"]:
        if lines:
            lines.append("")
        lines += text.splitlines()
    return lines


def _summary(node: Schema, defs: dict[str, Schema]) -> str:
    """The first paragraph of the description, on one line."""
    lines = _descriptions(node, defs)
    first = lines[: lines.index("")] if "" in lines else lines
    text = " ".join(line.strip() for line in first)
    return "" if text == "(no description)" else text


def _short_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    if len(text) <= 40:
        return text
    return "{...}" if isinstance(value, dict) else "[...]"
