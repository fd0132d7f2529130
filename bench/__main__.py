"""Run every benchmark and print one table: ``python -m bench [NAME ...]``.

``python -m bench soak [--minutes N ...]`` is the soak run (:mod:`bench.soak`)."""

from __future__ import annotations

import importlib
import sys

NAMES = (
    "startup",
    "apply",
    "listing",
    "informer",
    "placement",
    "mesos_sim",
    "mesos_client",
    "accept_encode",
    "docker_launch",
    "controller",
    "ipam",
    "ipam_check",
    "drain",
    "agentset_rollout",
    "registry_sync",
    "sale_day",
    "domains",
    "giveback",
    "dashboard",
    "sync",
)


LONG = ("soak",)
"""Runs with options of their own, never part of a plain ``python -m bench``:
``python -m bench soak --minutes 30`` (``make soak``)."""


def main(argv: list[str]) -> int:
    if argv and argv[0] in LONG:
        module = importlib.import_module(f"bench.{argv[0]}")
        code: int = module.main(argv[1:])
        return code
    names = argv or list(NAMES)
    print(f"{'figure':<52} {'value':>12} {'unit':<10} target", flush=True)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        for figure in module.run():
            print(figure.render(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
