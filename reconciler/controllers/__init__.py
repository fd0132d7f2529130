"""Controllers: one module per kind, each a level-based reconciler on the runtime.

- :mod:`.app` — the App controller (instances, rolling upgrades, status),
  with the Mesos framework of :mod:`reconciler.framework` as its hands.

Each module has ``register(manager, ...)``, called by the composition root
(``cli/controller.py``).
"""

from reconciler.controllers.app import FINALIZER, AppReconciler, new_framework, register

__all__ = ["FINALIZER", "AppReconciler", "new_framework", "register"]
