"""Docker Registry HTTP API v2 client (async, on httpx)."""

from adapters.registry.client import (
    MANIFEST_MEDIA_TYPES,
    Manifest,
    RegistryClient,
    RegistryError,
    child_digests,
)

__all__ = ["MANIFEST_MEDIA_TYPES", "Manifest", "RegistryClient", "RegistryError", "child_digests"]
