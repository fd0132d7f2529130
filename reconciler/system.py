"""The system domain: Apps that controllers own and run on every host's system slice.

Per-host agents (AgentSet) and registry replicas (RegistryMirror) are ordinary
Apps, owned by the object that asked for them, as a Kubernetes DaemonSet owns
its Pods. They live in the Domain ``dcos-system`` (created on first use by
:func:`ensure_system_domain`), whose Mesos role ``dcos-system`` is reserved a
slice on each host, so they are placed before any App of a business domain
and never compete with them. The App controller launches, health-checks and
rolls them like any other App; users see them with
``dcosctl get apps -d dcos-system``.

An owned App carries an ``ownerReferences`` entry naming its owner (with
``controller: true``) and two labels, ``dcos/owner-kind`` and
``dcos/owner-name``, so the owner's controller finds its Apps with a label
selector and :func:`owned_by` tells whose an App is.

:func:`put_owned` is idempotent: it creates the App, or rewrites its spec and
labels when they differ from what is stored (a compare-and-swap, retried on a
conflict), and leaves an App that already matches alone, so a controller may
call it on every reconcile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Final

from adapters.protocols import ObjectKey, Store
from crds.app import App, AppSpec
from crds.domain import BorrowPolicy, Domain, DomainSpec, SharedPoolPolicy
from crds.errors import AlreadyExists, ConflictError, NotFound
from crds.meta import ObjectMeta, OwnerReference, Resource

__all__ = [
    "OWNER_KIND_LABEL",
    "OWNER_NAME_LABEL",
    "SYSTEM_DOMAIN",
    "SYSTEM_ROLE",
    "delete_owned",
    "ensure_system_domain",
    "owned_app",
    "owned_by",
    "owner_selector",
    "put_owned",
]

SYSTEM_DOMAIN: Final = "dcos-system"
"""The Domain object of the system Apps."""
SYSTEM_ROLE: Final = "dcos-system"
"""Its Mesos role; every host reserves a slice of resources for it."""
OWNER_KIND_LABEL: Final = "dcos/owner-kind"
"""Label of an owned App: the owner's kind, e.g. AgentSet."""
OWNER_NAME_LABEL: Final = "dcos/owner-name"
"""Label of an owned App: the owner's name."""

_ATTEMPTS = 5  # compare-and-swap retries before a conflict is given up to the caller


def _system_domain() -> Domain:
    return Domain(
        metadata=ObjectMeta(
            name=SYSTEM_DOMAIN,
            labels={"dcos/system": "true"},
            annotations={"dcos/description": "per-host agents and registry replicas"},
        ),
        spec=DomainSpec(
            role=SYSTEM_ROLE,
            shared_pool=SharedPoolPolicy(borrow=BorrowPolicy.NEVER),
        ),
    )


async def ensure_system_domain(store: Store) -> None:
    """Create the Domain ``dcos-system`` (role dcos-system, never borrows, no quota)
    unless it exists; an existing one is left as it is."""
    try:
        await store.get(ObjectKey("Domain", None, SYSTEM_DOMAIN))
        return
    except NotFound:
        pass
    with contextlib.suppress(AlreadyExists):  # created meanwhile by another controller
        await store.create(_system_domain())


def owner_selector(kind: str, name: str) -> str:
    """The label selector of the Apps that ``kind``/``name`` owns."""
    return f"{OWNER_KIND_LABEL}={kind},{OWNER_NAME_LABEL}={name}"


def owned_app(
    owner: Resource, *, name: str, spec: AppSpec, labels: Mapping[str, str] | None = None
) -> App:
    """An App ``name`` in the system domain owned by ``owner``: ``ownerReferences``
    points at it (``controller: true``) and the owner labels are set on top of
    ``labels``. ``owner`` must have been read from the store (it needs its uid)."""
    if owner.metadata.uid is None:
        raise ValueError(f"{owner.kind} {owner.metadata.name!r} has no uid: read it from the store")
    ref = OwnerReference(
        kind=owner.kind, name=owner.metadata.name, uid=owner.metadata.uid, controller=True
    )
    all_labels = {
        **(labels or {}),
        OWNER_KIND_LABEL: owner.kind,
        OWNER_NAME_LABEL: owner.metadata.name,
    }
    meta = ObjectMeta(name=name, domain=SYSTEM_DOMAIN, labels=all_labels, owner_references=[ref])
    return App(metadata=meta, spec=spec)


def owned_by(app: App) -> tuple[str, str] | None:
    """The (kind, name) of the App's owner from its labels; None for an App nobody owns."""
    kind = app.metadata.labels.get(OWNER_KIND_LABEL)
    name = app.metadata.labels.get(OWNER_NAME_LABEL)
    if kind is None or name is None:
        return None
    return kind, name


def _same(stored: App, wanted: App) -> bool:
    return (
        stored.spec == wanted.spec
        and stored.metadata.labels == wanted.metadata.labels
        and stored.metadata.owner_references == wanted.metadata.owner_references
    )


async def put_owned(store: Store, app: App) -> App:
    """Create ``app``, or update the stored App's spec, labels and owner references
    when they differ (compare-and-swap, retried on a conflict); the App as stored.
    Finalizers, annotations and status of a stored App are kept."""
    key = ObjectKey.of(app)
    for _ in range(_ATTEMPTS):
        try:
            stored = await store.get(key)
        except NotFound:
            try:
                created = await store.create(app)
            except AlreadyExists:
                continue
            assert isinstance(created, App)
            return created
        assert isinstance(stored, App)
        if _same(stored, app):
            return stored
        meta = stored.metadata.model_copy(
            update={
                "labels": app.metadata.labels,
                "owner_references": app.metadata.owner_references,
            }
        )
        try:
            written = await store.update(
                stored.model_copy(update={"metadata": meta, "spec": app.spec})
            )
        except (ConflictError, NotFound):
            continue
        assert isinstance(written, App)
        return written
    raise ConflictError(f"App {SYSTEM_DOMAIN}/{app.metadata.name}: kept changing under the update")


async def delete_owned(store: Store, name: str) -> None:
    """Delete the system-domain App ``name`` (the App controller's finalizer then
    stops its instances); nothing happens when it is gone already."""
    with contextlib.suppress(NotFound):
        await store.delete(ObjectKey("App", SYSTEM_DOMAIN, name))
