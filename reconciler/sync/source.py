"""Where a sync's specs come from: a folder, and its git commit when it has one.

:func:`read_folder` is :func:`reconciler.apply.load_manifests` on the folder,
recursively (every document validated before anything is written; hidden
folders such as ``.git`` skipped). :func:`source_revision` asks ``git`` for
the commit checked out (``git rev-parse HEAD``) and whether the folder has
uncommitted changes (``git status --porcelain -- DIR``); outside a work tree,
or without git installed, both are unknown and the sync records no commit.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import crds.kinds  # noqa: F401  (registers every kind, so any document can be read)
from reconciler.apply.manifests import Manifest, load_manifests

__all__ = ["SourceRevision", "read_folder", "source_revision"]

logger = logging.getLogger(__name__)

GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class SourceRevision:
    """The git commit of a folder; ``commit`` is None outside a repository."""

    commit: str | None = None
    dirty: bool = False

    def short(self) -> str:
        if self.commit is None:
            return "<none>"
        return self.commit[:12] + ("+dirty" if self.dirty else "")


def read_folder(folder: Path) -> list[Manifest]:
    """Every manifest under ``folder``, validated; SpecError names the file and field."""
    return load_manifests([str(folder)], recursive=True)


def _git(folder: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("git %s in %s failed: %s", args[0], folder, exc)
        return None
    return done.stdout if done.returncode == 0 else None


def source_revision(folder: Path) -> SourceRevision:
    """The commit checked out where ``folder`` is, and whether the folder differs from it."""
    head = _git(folder, "rev-parse", "HEAD")
    if head is None:
        return SourceRevision()
    status = _git(folder, "status", "--porcelain", "--", ".")
    return SourceRevision(commit=head.strip(), dirty=bool(status and status.strip()))
