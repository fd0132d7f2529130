"""A read-only web dashboard served by ``dcos-controller`` on its metrics address.

One page shows the domains (capacity, use, borrowing), the hosts, the Apps
with their rollout progress and why instances wait, the IP pools'
utilisation and the recent events, and follows them live over server-sent
events. From the bottom up:

- :mod:`.view` — pure functions from objects and events to JSON rows;
- :mod:`.feed` — :class:`Feed`: change counting, coalesced snapshots, the
  event streams, the events read while a page is open;
- :mod:`.page` — the HTML page (inline CSS and JavaScript, no external URL);
- :mod:`.server` — the GET routes and :func:`register`, which wires the
  manager's informers to a feed and mounts the routes on its metrics server.

``docs/dashboard.md`` shows the page and what each column means.
"""

from reconciler.dashboard.feed import KINDS, DashboardSettings, Feed
from reconciler.dashboard.server import Dashboard, register
from reconciler.dashboard.view import snapshot

__all__ = ["KINDS", "Dashboard", "DashboardSettings", "Feed", "register", "snapshot"]
