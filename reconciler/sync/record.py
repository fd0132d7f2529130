"""The sync record: what the last ``dcosctl sync`` did, kept in etcd.

One JSON value per sync under the raw key ``syncs/<name>``
(:meth:`adapters.protocols.Store.put_raw`), written after every sync that
succeeded and never by one that failed:

* where the specs came from: the folder (``source``), the git commit of its
  work tree (``commit``, None outside a repository) and whether the folder had
  uncommitted changes (``dirty``);
* the etcd ``revision`` after the sync and its ``time``;
* per object: its key, its :class:`SyncState`, the hash of the document the
  folder held (:func:`document_hash`, of the same document the last-applied
  annotation records) and a message.

The hash is how a later sync tells "the folder changed this object" (apply
it) from "the object changed behind the folder's back" (drift: report it, and
put it back only with ``--self-heal``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from adapters.protocols import ObjectKey, Store
from crds.errors import SpecError
from crds.meta import Resource
from reconciler.apply.merge import desired_document

__all__ = [
    "ObjectRecord",
    "SyncRecord",
    "SyncState",
    "applyset_of",
    "check_name",
    "decode_record",
    "document_hash",
    "encode_record",
    "read_record",
    "record_path",
    "write_record",
]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,200}[a-z0-9])?$")


class SyncState(enum.StrEnum):
    SYNCED = "Synced"
    """Live equals what the folder says (fields a ScalingPolicy owns aside)."""
    OUT_OF_SYNC = "OutOfSync"
    """Live differs: drift not put back, or an object the folder no longer holds."""
    MISSING = "Missing"
    """In the folder, not in etcd (deleted behind the folder's back)."""
    PRUNED = "Pruned"
    """Deleted by this sync: the folder no longer holds it."""


@dataclass(frozen=True)
class ObjectRecord:
    """One object's state after a sync."""

    key: ObjectKey
    state: SyncState
    hash: str | None = None
    """:func:`document_hash` of the folder's document (None when not in the folder)."""
    message: str = ""


@dataclass(frozen=True)
class SyncRecord:
    """What one sync did; see the module docstring."""

    name: str
    source: str
    commit: str | None
    dirty: bool
    revision: int
    time: datetime
    objects: Sequence[ObjectRecord] = field(default_factory=tuple)

    @property
    def applyset(self) -> str:
        return applyset_of(self.name)

    def get(self, key: ObjectKey) -> ObjectRecord | None:
        return next((o for o in self.objects if o.key == key), None)


def check_name(name: str) -> None:
    """SpecError unless ``name`` can name a sync (and its ApplySet)."""
    if not _NAME.match(name):
        raise SpecError(
            f"sync name {name!r} must be lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit",
            field="name",
        )


def applyset_of(name: str) -> str:
    """The ApplySet a sync owns its objects through: ``sync.<name>``."""
    return f"sync.{name}"


def record_path(name: str) -> str:
    return f"syncs/{name}"


def document_hash(obj: Resource) -> str:
    """sha256 of the manifest's document as apply records it (fields set, no defaults)."""
    text = json.dumps(desired_document(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_record(record: SyncRecord) -> bytes:
    objects = [
        {
            "kind": o.key.kind,
            "domain": o.key.domain,
            "name": o.key.name,
            "state": o.state.value,
            "hash": o.hash,
            "message": o.message,
        }
        for o in sorted(record.objects, key=lambda o: o.key)
    ]
    data = {
        "name": record.name,
        "applyset": record.applyset,
        "source": record.source,
        "commit": record.commit,
        "dirty": record.dirty,
        "revision": record.revision,
        "time": record.time.isoformat(),
        "objects": objects,
    }
    return json.dumps(data, indent=1).encode()


def decode_record(name: str, value: bytes) -> SyncRecord:
    """The record, or SpecError naming the key when it does not decode."""
    try:
        data = json.loads(value)
        objects = tuple(
            ObjectRecord(
                ObjectKey(str(o["kind"]), o["domain"], str(o["name"])),
                SyncState(o["state"]),
                o.get("hash"),
                str(o.get("message", "")),
            )
            for o in data["objects"]
        )
        return SyncRecord(
            name=str(data["name"]),
            source=str(data["source"]),
            commit=data.get("commit"),
            dirty=bool(data.get("dirty", False)),
            revision=int(data["revision"]),
            time=datetime.fromisoformat(data["time"]),
            objects=objects,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(
            f"the record of sync {name!r} is unreadable ({exc}); "
            f"delete {record_path(name)!r} and sync again"
        ) from exc


async def read_record(store: Store, name: str) -> SyncRecord | None:
    """The last record of sync ``name``; None before its first sync."""
    value = await store.get_raw(record_path(name))
    return None if value is None else decode_record(name, value)


async def write_record(store: Store, record: SyncRecord) -> None:
    await store.put_raw(record_path(record.name), encode_record(record))
