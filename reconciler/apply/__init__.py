"""Declarative apply: manifests in, the store brought to match them.

The pipeline behind ``dcosctl apply``, ``diff`` and ``delete -f``:

* :mod:`~reconciler.apply.manifests` reads files, directories and stdin and
  validates every document before anything else happens;
* :mod:`~reconciler.apply.merge` is the three-way merge (last applied,
  file, live) with JSON merge patch semantics, pure functions on dicts;
* :mod:`~reconciler.apply.apply` plans from one read per kind and writes
  every change in one commit, retrying compare-and-swap conflicts;
* :mod:`~reconciler.apply.admission` refuses updates before the commit
  (an IPPool change that would strand allocations);
* :mod:`~reconciler.apply.applyset` records which objects an ApplySet owns,
  so ``--prune`` deletes only those;
* :mod:`~reconciler.apply.diff` shows what apply would change.

The store is reached only through :class:`adapters.protocols.Store`.
"""

from reconciler.apply.apply import Action, ApplyResult, apply_manifests, delete_objects
from reconciler.apply.diff import diff_manifests
from reconciler.apply.manifests import Manifest, load_manifests
from reconciler.apply.merge import APPLYSET, LAST_APPLIED

__all__ = [
    "APPLYSET",
    "LAST_APPLIED",
    "Action",
    "ApplyResult",
    "Manifest",
    "apply_manifests",
    "delete_objects",
    "diff_manifests",
    "load_manifests",
]
