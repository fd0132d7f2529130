"""Conditions of a Host: the types (and :func:`reconciler.runtime.conditions.condition`)."""

from __future__ import annotations

from reconciler.runtime.conditions import condition

__all__ = [
    "CMDB_REACHABLE",
    "DECOMMISSIONED",
    "DRAINING",
    "ENGINE_REACHABLE",
    "NETWORK",
    "ONBOARDED",
    "ORPHANS",
    "PROFILE_DRIFT",
    "condition",
]

CMDB_REACHABLE = "CmdbReachable"
ONBOARDED = "Onboarded"
ENGINE_REACHABLE = "EngineReachable"
PROFILE_DRIFT = "ProfileDrift"
ORPHANS = "Orphans"
NETWORK = "PoolNetwork"
DRAINING = "Draining"
DECOMMISSIONED = "Decommissioned"
