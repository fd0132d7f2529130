"""Imports every kind module so that each registers itself in :data:`crds.registry.KINDS`.

Anything that resolves kinds by name (the CLI, the store, the schema
generator, ``explain``) imports this module once. :data:`ALL_KINDS` lists
the kinds in the order people read about them: the cluster's foundations
first (domains, hosts, pools), then what runs on them.
"""

from __future__ import annotations

from crds.agentset import AgentSet
from crds.app import App
from crds.domain import Domain
from crds.host import Host
from crds.ippool import IPPool
from crds.registrymirror import RegistryMirror
from crds.scalingpolicy import ScalingPolicy

__all__ = [
    "ALL_KINDS",
    "AgentSet",
    "App",
    "Domain",
    "Host",
    "IPPool",
    "RegistryMirror",
    "ScalingPolicy",
]

ALL_KINDS = (Domain, Host, IPPool, App, AgentSet, ScalingPolicy, RegistryMirror)
"""Every kind, foundations first."""
