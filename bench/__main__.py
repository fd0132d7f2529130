"""Run every benchmark and print one table: ``python -m bench [NAME ...]``."""

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
)


def main(argv: list[str]) -> int:
    names = argv or list(NAMES)
    print(f"{'figure':<52} {'value':>12} {'unit':<10} target", flush=True)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        for figure in module.run():
            print(figure.render(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
