"""``python -m localcluster <service>``: run one local service in the foreground.

Services: ``mesos`` (the local Mesos master, :mod:`localcluster.mesos`) and
``netbox`` (the NetBox-compatible CMDB, :mod:`localcluster.netbox`).
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)

_USAGE = "usage: python -m localcluster {mesos,netbox} [options]   (--help for the options)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if args else 2
    if args[0] == "mesos":
        from localcluster.mesos.__main__ import main as mesos_main

        return mesos_main(args[1:])
    if args[0] == "netbox":
        from localcluster.netbox.__main__ import main as netbox_main

        return netbox_main(args[1:])
    print(f"unknown service '{args[0]}'\n{_USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
