"""Reading manifests: files, directories and stdin into validated objects.

:func:`load_manifests` is the first step of ``dcosctl apply``, ``diff`` and
``delete -f``. It reads every path (``-`` is stdin; a directory gives its
``*.yaml``, ``*.yml`` and ``*.json`` files in sorted order, recursively on
request, skipping hidden sub-directories), splits multi-document YAML, skips
empty documents, expands ``kind: List`` documents into their ``items``, and
validates each object through :func:`crds.registry.parse_object`.

Everything is validated before anything is returned, and every problem is a
one-line :class:`SpecError`:

* YAML that does not parse: ``FILE:LINE:COLUMN: problem`` (1-based), also
  for a key repeated in one mapping;
* a document that is not an object, an unknown apiVersion or kind, a field
  that is unknown or invalid: ``FILE: document N: spec.fieldPath: message``,
  with the path in wire (camelCase) form and ``(+N more)`` when pydantic
  found several errors;
* the same object (kind, domain, name) named twice: both places.

A manifest says what users want, not what the server recorded, so:

* ``status`` and the metadata the store owns (uid, resourceVersion,
  generation, creationTimestamp, deletionTimestamp) are dropped silently,
  as the Kubernetes API server ignores them, so that the output of
  ``dcosctl get -o yaml`` can be edited and applied again. Users cannot set
  them: the store assigns them on every write;
* apply's own annotations (last-applied, applyset) are ignored: the merge in
  :mod:`reconciler.apply.merge` owns them.

Next hop: :mod:`reconciler.apply.apply` writes the manifests.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from crds.errors import SpecError
from crds.meta import Resource
from crds.registry import parse_object

__all__ = ["SERVER_FIELDS", "Manifest", "describe_validation_error", "load_manifests"]

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "<stdin>"
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_./]*$")
SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
)
"""Metadata the store sets; dropped from manifests."""


@dataclass(frozen=True)
class Manifest:
    """One object to apply and where it was written."""

    obj: Resource
    source: str
    """The file it came from (``<stdin>`` for standard input)."""
    document: int
    """1-based index of the YAML document in its file."""


# libyaml's parser when PyYAML was built with it (its wheels are): about ten
# times faster than the pure-Python one, with the same marks for errors.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_manifests(
    paths: Sequence[str], *, recursive: bool = False, stdin: TextIO | None = None
) -> list[Manifest]:
    """Read and validate every object in ``paths``; SpecError on the first problem."""
    manifests: list[Manifest] = []
    seen: dict[tuple[str, str | None, str], str] = {}
    for source, text in _read_sources(paths, recursive=recursive, stdin=stdin):
        for document, where, raw in _documents(source, text):
            manifest = Manifest(_parse(raw, source, document, where), source, document)
            meta = manifest.obj.metadata
            key = (manifest.obj.kind, meta.domain, meta.name)
            here = f"{source}: document {document}{_item(where)}"
            if key in seen:
                name = f"{meta.domain}/{meta.name}" if meta.domain else meta.name
                raise SpecError(
                    f"{key[0]} {name} is defined twice: in {seen[key]} and in {here}",
                    source=source,
                    document=document,
                )
            seen[key] = here
            manifests.append(manifest)
    logger.debug("loaded %d manifests from %s", len(manifests), ", ".join(paths))
    return manifests


def _item(where: str) -> str:
    return f" ({where})" if where else ""


def _read_sources(
    paths: Sequence[str], *, recursive: bool, stdin: TextIO | None
) -> Iterator[tuple[str, str]]:
    """(source name, text) for every file named or found under a directory."""
    for path in paths:
        if path == "-":
            yield STDIN, (stdin or sys.stdin).read()
            continue
        p = Path(path)
        if p.is_dir():
            for file in _directory_files(p, recursive=recursive):
                yield str(file), _read_file(file)
        elif p.exists():
            yield path, _read_file(p)
        else:
            raise SpecError("no such file or directory", source=path)


def _directory_files(directory: Path, *, recursive: bool) -> list[Path]:
    found = directory.rglob("*") if recursive else directory.glob("*")
    return sorted(
        f
        for f in found
        if f.suffix in SUFFIXES
        and f.is_file()
        and not any(part.startswith(".") for part in f.relative_to(directory).parent.parts)
    )


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text: {exc.reason}", source=str(path)) from exc
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", source=str(path)) from exc


def _documents(source: str, text: str) -> Iterator[tuple[int, str, Any]]:
    """(document index, item location, raw object) per object; Lists are expanded."""
    for index, doc in enumerate(_parse_text(source, text), start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise SpecError(
                f"expected a mapping with apiVersion, kind, metadata and spec, "
                f"got {_type_name(doc)}",
                source=source,
                document=index,
            )
        if doc.get("kind") != "List":
            yield index, "", doc
            continue
        items = doc.get("items")
        if not isinstance(items, list):
            raise SpecError(
                f"a List needs a list of items, got {_type_name(items)}",
                source=source,
                document=index,
                field="items",
            )
        for position, item in enumerate(items):
            yield index, f"items[{position}]", item


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


def _parse_text(source: str, text: str) -> list[Any]:
    """Every document of ``text``, as plain JSON-like values (checked for cycles)."""
    try:
        if source.endswith(".json"):
            docs = [json.loads(text)] if text.strip() else []
        else:
            docs = list(yaml.load_all(text, Loader=_Loader))
        for doc in docs:
            json.dumps(doc, default=str)  # refuses self-referencing aliases
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(source, text, exc) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {_one_line(str(exc))}", source=source) from exc
    except json.JSONDecodeError as exc:
        raise SpecError(exc.msg, source=f"{source}:{exc.lineno}:{exc.colno}") from exc
    except ValueError as exc:  # circular reference
        raise SpecError(f"unsupported document: {exc}", source=source) from exc
    except RecursionError as exc:
        raise SpecError("unsupported document: nested too deeply", source=source) from exc
    return docs


def _yaml_error(source: str, text: str, exc: yaml.MarkedYAMLError) -> SpecError:
    """``FILE:LINE:COLUMN: problem`` from the problem mark (1-based).

    When the problem is only found at the end of the input (an unclosed
    bracket or quote), the mark of what was left open is more useful, so the
    context mark is named instead, with its context in the message.
    """
    mark, problem = exc.problem_mark, exc.problem or exc.context or "invalid YAML"
    at_end = mark is not None and mark.index >= len(text.rstrip())
    if (mark is None or at_end) and exc.context_mark is not None and exc.context:
        mark = exc.context_mark
        problem = f"{exc.context}: {problem}" if exc.problem else exc.context
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    return SpecError(_one_line(problem), source=where)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _parse(raw: Any, source: str, document: int, where: str) -> Resource:
    """One raw object into its kind's model, or SpecError naming the field."""
    prefix = f"{where}." if where else ""
    if not isinstance(raw, dict):
        raise SpecError(
            f"expected a mapping with apiVersion, kind, metadata and spec, got {_type_name(raw)}",
            source=source,
            document=document,
            field=where or None,
        )
    data = {k: v for k, v in raw.items() if k != "status"}
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and any(name in metadata for name in SERVER_FIELDS):
        ignored = [name for name in SERVER_FIELDS if name in metadata]
        logger.debug("%s: document %d: ignoring server-set %s", source, document, ignored)
        data["metadata"] = {k: v for k, v in metadata.items() if k not in SERVER_FIELDS}
    try:
        return parse_object(data)
    except SpecError as exc:
        field = f"{prefix}{exc.field}" if exc.field else where or None
        raise SpecError(exc.message, source=source, document=document, field=field) from exc
    except ValidationError as exc:
        field, message = describe_validation_error(exc, data)
        raise SpecError(
            message, source=source, document=document, field=f"{prefix}{field}" if field else where
        ) from exc
    except RecursionError as exc:
        raise SpecError("nested too deeply", source=source, document=document) from exc


def describe_validation_error(exc: ValidationError, data: Any) -> tuple[str, str]:
    """(wire field path, message) of the first error, with ``(+N more)`` when several."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    message = _one_line(first["msg"])
    if len(errors) > 1:
        message += f" (+{len(errors) - 1} more)"
    return _wire_path(first["loc"], data), message


def _wire_path(loc: tuple[int | str, ...], data: Any) -> str:
    """pydantic's ``loc`` as ``spec.ports[0].name``, following the input document.

    Parts that are not in the input (the member names pydantic adds inside
    unions, like ``int`` or ``function-after[...]``) are left out; the last
    part is kept even when absent, as it names a missing field.
    """
    path = ""
    current = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path += f"[{part}]"
            current = current[part]
        elif isinstance(current, dict) and part in current:
            path += _segment(part, first=not path)
            current = current[part]
        elif last and isinstance(current, dict):
            path += _segment(part, first=not path)
    return path


def _segment(part: int | str, *, first: bool) -> str:
    """``.name``, or ``["odd key"]`` (JSON-quoted) for a key that is not a plain word."""
    if isinstance(part, int) or not _PLAIN_KEY.match(part):
        return f"[{json.dumps(part)}]"
    return part if first else f".{part}"
