"""ApplySets: which objects one ``apply`` owns, so ``--prune`` deletes exactly those.

Label selectors alone would leak (objects whose labels changed) or
over-delete (objects someone else labelled the same way), so pruning follows
the ApplySet design of kubectl instead:

* every object applied with ``--applyset NAME`` carries the annotation
  :data:`APPLYSET` ``= NAME``;
* the set's membership, the keys (and uids) of its objects, is kept in etcd
  under ``applysets/NAME`` (:meth:`Store.put_raw`), as JSON;
* ``apply --prune`` deletes the previous members that are not in the current
  manifests, but only those whose live object still carries
  ``APPLYSET == NAME``: an object another set adopted is left alone. Then the
  membership is rewritten to the current set.

Membership is written twice around the write: first the union of previous
and current members (so a crash in between never forgets an object that
exists), then the final list. An ``apply`` with an applyset but without
``--prune`` keeps the union, so objects dropped from the files are still
pruned by a later ``--prune``.

Pruning needs a name: :func:`check_applyset` refuses ``prune`` without one
(the CLI may choose a default, such as the name of the directory applied).
This module holds the pure parts and the membership record; the deletions go
through the same commit as the rest of the apply in
:mod:`reconciler.apply.apply`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adapters.protocols import ObjectKey, Store
from crds.errors import SpecError
from crds.meta import Resource
from reconciler.apply.merge import APPLYSET

__all__ = [
    "APPLYSET",
    "Member",
    "check_applyset",
    "membership_path",
    "prune_candidates",
    "read_membership",
    "write_membership",
]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True, order=True)
class Member:
    """One object recorded in an ApplySet; ``uid`` is None until it was created."""

    key: ObjectKey
    uid: str | None = None

    @classmethod
    def of(cls, obj: Resource) -> Member:
        return cls(ObjectKey.of(obj), obj.metadata.uid)


def check_applyset(applyset: str | None, *, prune: bool) -> None:
    """SpecError when ``prune`` has no set to prune from, or the name is unusable."""
    if applyset is None:
        if prune:
            raise SpecError(
                "pruning needs an ApplySet: pass --applyset NAME so that only objects "
                "applied with that name are pruned"
            )
        return
    if not _NAME.match(applyset):
        raise SpecError(
            f"applyset name {applyset!r} must be lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit",
            field="applyset",
        )


def membership_path(applyset: str) -> str:
    """Where the set's members are kept, under the store's prefix."""
    return f"applysets/{applyset}"


def _encode(applyset: str, members: Iterable[Member]) -> bytes:
    rows = [
        {"kind": m.key.kind, "domain": m.key.domain, "name": m.key.name, "uid": m.uid}
        for m in sorted(set(members))
    ]
    return json.dumps({"applyset": applyset, "members": rows}, indent=1).encode()


def _decode(applyset: str, value: bytes) -> list[Member]:
    try:
        rows = json.loads(value)["members"]
        return [
            Member(ObjectKey(str(r["kind"]), r["domain"], str(r["name"])), r.get("uid"))
            for r in rows
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(
            f"the membership record of applyset {applyset!r} is unreadable ({exc}); "
            f"delete {membership_path(applyset)!r} to start the set afresh"
        ) from exc


async def read_membership(store: Store, applyset: str) -> list[Member]:
    """The members recorded for ``applyset``; empty for a new set."""
    value = await store.get_raw(membership_path(applyset))
    return [] if value is None else _decode(applyset, value)


async def write_membership(store: Store, applyset: str, members: Iterable[Member]) -> None:
    """Record ``members`` as the whole set (one member per key; the last uid given wins)."""
    by_key: dict[ObjectKey, Member] = {}
    for member in members:
        if member.uid is not None or member.key not in by_key:
            by_key[member.key] = member
    await store.put_raw(membership_path(applyset), _encode(applyset, by_key.values()))
    logger.debug("applyset %s has %d members", applyset, len(by_key))


def prune_candidates(
    applyset: str,
    previous: Iterable[Member],
    current: Iterable[ObjectKey],
    live: Mapping[ObjectKey, Resource],
) -> list[Resource]:
    """Live objects to prune: previous members no longer applied that still belong to the set.

    An object that is gone is skipped; one whose :data:`APPLYSET` annotation
    names another set (or none) was adopted and is kept.
    """
    keep = set(current)
    result: list[Resource] = []
    for key in sorted({m.key for m in previous} - keep):
        obj = live.get(key)
        if obj is None:
            continue
        owner = obj.metadata.annotations.get(APPLYSET)
        if owner != applyset:
            logger.info("not pruning %s: it belongs to applyset %r now", key, owner)
            continue
        result.append(obj)
    return result
