"""Controllers: one module per kind, each a level-based reconciler on the runtime.

- :mod:`.app` — the App controller (instances, rolling upgrades, status),
  with the Mesos framework of :mod:`reconciler.framework` as its hands;
- :mod:`.ippool` — the IPPool controller (a block per selected host, usage);
- :mod:`.host` — the Host controller (CMDB mirror, onboarding, engine drift,
  orphans, the pool network, decommissioning to offline).

Each module has ``register(manager, ...)``, called by the composition root
(``cli/controller.py``).
"""

from reconciler.controllers.app import FINALIZER, AppReconciler, new_framework, register
from reconciler.controllers.ippool import IPPoolReconciler

__all__ = ["FINALIZER", "AppReconciler", "IPPoolReconciler", "new_framework", "register"]
