"""``dcosctl diff``: what ``apply`` would change, as a unified diff of YAML.

For each manifest, the live object is compared with the result of the same
three-way merge ``apply`` performs (:mod:`reconciler.apply.merge`); an object
that does not exist yet is compared with nothing. Both sides are shown
without what would only be noise: status, the fields the store sets
(resourceVersion, generation, uid, creationTimestamp) and the last-applied
annotation. The ApplySet annotation of the live object is kept on both
sides, as if applied with the same set.

Headers name the object, ``live/App/checkout/web`` and
``merged/App/checkout/web``. Live state is read with one ``store.list`` per
kind (:func:`reconciler.apply.apply.read_live`). The result is ``""`` when
nothing would change.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from typing import Any

import yaml

from adapters.protocols import ObjectKey, Store
from crds.meta import Resource
from reconciler.apply.apply import keep_scaled_count, read_live, scaled_apps
from reconciler.apply.manifests import Manifest
from reconciler.apply.merge import APPLYSET, LAST_APPLIED, merged_object

__all__ = ["comparable", "diff_manifests", "readable"]

logger = logging.getLogger(__name__)

_STRIPPED = ("resourceVersion", "generation", "uid", "creationTimestamp")


def comparable(obj: Resource) -> dict[str, Any]:
    """``obj``'s wire form without status, store-set fields or the last-applied annotation."""
    wire = obj.to_wire(with_status=False)
    metadata: dict[str, Any] = {k: v for k, v in wire["metadata"].items() if k not in _STRIPPED}
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        metadata["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    wire["metadata"] = metadata
    return wire


def readable(obj: Resource | None) -> str:
    """:func:`comparable` as YAML; ``""`` for None."""
    if obj is None:
        return ""
    wire = comparable(obj)
    return yaml.safe_dump(wire, sort_keys=True, default_flow_style=False, allow_unicode=True)


async def diff_manifests(store: Store, manifests: Sequence[Manifest]) -> str:
    """A unified diff of live objects against what applying ``manifests`` would make them."""
    live = await read_live(store, [ObjectKey.of(m.obj) for m in manifests])
    scaled = await scaled_apps(store, manifests)
    chunks: list[str] = []
    for m in manifests:
        key = ObjectKey.of(m.obj)
        current = live.get(key)
        applyset = None if current is None else current.metadata.annotations.get(APPLYSET)
        merged = merged_object(
            m.obj, current, applyset=applyset, source=m.source, document=m.document
        )
        merged = keep_scaled_count(merged, current, scaled)
        before, after = readable(current), readable(merged)
        if before == after:
            continue
        lines = difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"live/{key}",
            tofile=f"merged/{key}",
        )
        chunks.append("".join(lines))
    logger.debug("%d of %d objects differ", len(chunks), len(manifests))
    return "".join(chunks)
