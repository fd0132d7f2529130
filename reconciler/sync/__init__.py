"""GitOps: keep etcd equal to a folder of specs (a git checkout).

The logic behind ``dcosctl sync``, on :class:`adapters.protocols.Store`:

* :mod:`~reconciler.sync.source` reads the folder (every document validated
  before anything is written) and its git commit;
* :mod:`~reconciler.sync.sync` compares each object with the folder, applies
  what changed in the folder through :mod:`reconciler.apply` (the same
  three-way merge, ApplySet pruning and single commit as ``dcosctl apply``),
  tells drift (a change behind the folder's back) from a change in the folder,
  and puts drift back only when asked;
* :mod:`~reconciler.sync.record` keeps what the last sync did in etcd
  (``syncs/<name>``): commit, revision, time and per-object state;
* :mod:`~reconciler.sync.watch` syncs again on every file change and every
  write to an object the sync owns.
"""

from reconciler.sync.record import (
    ObjectRecord,
    SyncRecord,
    SyncState,
    applyset_of,
    read_record,
)
from reconciler.sync.source import SourceRevision, read_folder, source_revision
from reconciler.sync.sync import ObjectStatus, SyncResult, compare, folder_status, sync_folder
from reconciler.sync.watch import watch_folder

__all__ = [
    "ObjectRecord",
    "ObjectStatus",
    "SourceRevision",
    "SyncRecord",
    "SyncResult",
    "SyncState",
    "applyset_of",
    "compare",
    "folder_status",
    "read_folder",
    "read_record",
    "source_revision",
    "sync_folder",
    "watch_folder",
]
