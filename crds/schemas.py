"""JSON schemas of the kinds, generated from the models into ``crds/schemas/``.

The pydantic models are the single source; the files are generated so that
editors, ``kubectl``-style tooling and reviewers can read the wire format
without Python. Output is deterministic (sorted keys, two-space indent,
trailing newline), so regenerating an unchanged model changes nothing and a
stale file is caught by ``python -m crds.schemas --check`` (in ``make check``)
and by ``tests/crds/test_schemas.py``. :mod:`crds.explain` reads the same
schemas through :func:`schema_for`.

Usage::

    python -m crds.schemas            # write crds/schemas/<Kind>.json
    python -m crds.schemas --check    # exit 1 and name the stale files
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crds.kinds import ALL_KINDS
from crds.meta import Resource

__all__ = ["SCHEMA_DIR", "main", "render", "render_all", "schema_for", "stale_files"]

SCHEMA_DIR = Path(__file__).with_name("schemas")
"""Where the generated files live: crds/schemas/<Kind>.json."""


def schema_for(cls: type[Resource]) -> dict[str, Any]:
    """The JSON schema of one kind, as the wire (camelCase) form is validated."""
    return cls.model_json_schema(by_alias=True, mode="validation")


def render(cls: type[Resource]) -> str:
    """The file text of one kind's schema."""
    return json.dumps(schema_for(cls), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> file text for every kind."""
    return {f"{cls.model_fields['kind'].default}.json": render(cls) for cls in ALL_KINDS}


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of files in ``directory`` that are missing, differ or belong to no kind."""
    wanted = render_all()
    stale = [
        name
        for name, text in wanted.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    extra = [p.name for p in directory.glob("*.json") if p.name not in wanted]
    return sorted(stale + extra)


def write_all(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write every kind's schema, remove files of kinds that no longer exist,
    and return the names of the files that changed."""
    changed = stale_files(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render_all()
    for name in changed:
        path = directory / name
        if name in wanted:
            path.write_text(wanted[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crds.schemas``: 0 when written or fresh, 1 when --check finds stale files."""
    parser = argparse.ArgumentParser(prog="python -m crds.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="the schema directory")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.dir)
        for name in stale:
            print(f"stale: {args.dir / name} (run `make schemas`)", file=sys.stderr)
        return 1 if stale else 0
    for name in write_all(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
