"""Live instances per host, counted once per pass from the instance records.

The App controller's records (``instances/<domain>/<app>/<id>``, JSON of
:class:`reconciler.apps.Instance`) name the host each instance was placed
on (``hostname``, the Host's name). An instance is live until it is
terminal (Finished, Failed, Killed, Lost, Gone, Dropped, Error); an
unreachable one still counts, as it may come back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from reconciler.apps import Instance

__all__ = ["INSTANCES_PREFIX", "live_instances_by_host"]

logger = logging.getLogger(__name__)

INSTANCES_PREFIX = "instances/"


def live_instances_by_host(records: Iterable[tuple[str, bytes]]) -> dict[str, int]:
    """Host name → number of live instance records on it (records that do not
    decode are logged and left out)."""
    counts: Counter[str] = Counter()
    for path, value in records:
        try:
            inst = Instance.from_json(value)
        except ValueError:
            logger.warning("instance record %s does not decode; not counted", path)
            continue
        if inst.hostname is not None and not inst.is_terminal:
            counts[inst.hostname] += 1
    return dict(counts)
