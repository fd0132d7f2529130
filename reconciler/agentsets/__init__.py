"""Per-host agents: the AgentSet plan (:mod:`.plan`); the controller is in
:mod:`reconciler.controllers.agentset`."""

from reconciler.agentsets.plan import (
    HOST_LABEL,
    TEMPLATE_LABEL,
    Plan,
    agent_app_name,
    agent_spec,
    app_available,
    plan,
    template_hash,
)

__all__ = [
    "HOST_LABEL",
    "TEMPLATE_LABEL",
    "Plan",
    "agent_app_name",
    "agent_spec",
    "app_available",
    "plan",
    "template_hash",
]
