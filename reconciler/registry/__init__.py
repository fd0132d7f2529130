"""Replication between the replicas of a RegistryMirror, the rollout gate, and the
pure parts of the RegistryMirror controller (:mod:`reconciler.registry.mirror`)."""

from reconciler.registry.gate import (
    GateResult,
    GateVerdict,
    gate_verdict,
    image_on_replicas,
    split_image,
)
from reconciler.registry.replicate import ReplicaReport, SyncReport, matches, sync_replicas

__all__ = [
    "GateResult",
    "GateVerdict",
    "ReplicaReport",
    "SyncReport",
    "gate_verdict",
    "image_on_replicas",
    "matches",
    "split_image",
    "sync_replicas",
]
