"""etcd's users, roles and key-range permissions, managed idempotently.

etcd authorises by role: a role holds permissions (``read``, ``write`` or
``readwrite`` on one key or a key range ``[key, range_end)``), a user holds
roles, and once auth is enabled every request needs a user (a password, or
the common name of a client certificate when etcd runs with
``--client-cert-auth``). Only ``root`` may manage users and roles.

:class:`EtcdAuth` wraps the Auth service's gRPC stubs (aetcd has none of
them) with calls that may be repeated: :meth:`~EtcdAuth.ensure_user` creates
a user or leaves it, :meth:`~EtcdAuth.ensure_role` creates a role and makes
its permissions exactly the ones given (granting what is missing, revoking
what is no longer wanted), :meth:`~EtcdAuth.enable` is a no-op when auth is
on. Errors arrive as :mod:`crds.errors`, like every call of
:class:`adapters.etcd.client.EtcdClient`.

:func:`domain_grants`, :func:`controller_grants`, :func:`viewer_grants` and
:func:`gitops_grants` are the policy of simple-dcos, from the key layout of
:mod:`adapters.etcd.keys`: a domain's user reads everything under the prefix
and writes only its own domain's spec keys of the domain-scoped kinds, its
events and its ApplySet records; the controller reads and writes the whole
prefix; the viewer only reads it; GitOps (``dcosctl sync``) writes the spec
keys of every kind, events, the ``sync.*`` ApplySet records and the sync
records, and never a status, a leader election, an instance or an IPAM key.
Passwords never appear in a log line, a repr or an error from this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aetcd import rpc

from adapters.etcd.client import EtcdClient, prefix_end
from adapters.etcd.keys import KeySpace

__all__ = [
    "GITOPS",
    "ROOT",
    "VIEWER",
    "EtcdAuth",
    "Grant",
    "UserInfo",
    "controller_grants",
    "domain_grants",
    "domain_user",
    "gitops_grants",
    "viewer_grants",
]

logger = logging.getLogger(__name__)

ROOT = "root"
"""etcd's built-in administrator: the user and the role of that name."""
VIEWER = "viewer"
"""The read-only user (and role): ``get``, ``describe``, ``diff``, ``sync status``."""
GITOPS = "gitops"
"""The user (and role) of ``dcosctl sync``: the merge job of a GitOps repository."""

Perm = Literal["read", "write", "readwrite"]
_TO_WIRE: dict[Perm, int] = {
    "read": rpc.Permission.READ,
    "write": rpc.Permission.WRITE,
    "readwrite": rpc.Permission.READWRITE,
}
_FROM_WIRE: dict[int, Perm] = {wire: perm for perm, wire in _TO_WIRE.items()}


@dataclass(frozen=True, order=True)
class Grant:
    """``perm`` on ``key`` alone (``range_end`` empty) or on ``[key, range_end)``."""

    key: bytes
    range_end: bytes
    perm: Perm

    @classmethod
    def prefix(cls, prefix: bytes, perm: Perm) -> Grant:
        return cls(prefix, prefix_end(prefix), perm)

    @classmethod
    def exact(cls, key: bytes, perm: Perm) -> Grant:
        return cls(key, b"", perm)

    def describe(self) -> str:
        """``/dcos/spec/App/shop/*`` for a prefix range, the key for one key."""
        key = self.key.decode(errors="replace")
        if not self.range_end:
            return key
        if self.range_end == prefix_end(self.key):
            return f"{key}*"
        return f"[{key}, {self.range_end.decode(errors='replace')})"


@dataclass(frozen=True)
class UserInfo:
    name: str
    roles: tuple[str, ...]


def domain_user(domain: str) -> str:
    """The etcd user (and role) of a business domain."""
    return f"domain-{domain}"


def _everything(keys: KeySpace) -> bytes:
    return (keys.root + "/").encode()


def domain_grants(keys: KeySpace, domain: str, kinds: Iterable[str]) -> list[Grant]:
    """What ``domain``'s user may do: read the whole prefix (``apply`` reads the
    live objects, ``get``/``describe``/``diff`` read everything), and read-write
    the domain's own spec keys and events of each domain-scoped kind in
    ``kinds``, and its ApplySet records (``applysets/<domain>`` and
    ``applysets/<domain>.*``). Status keys, cluster-scoped kinds, other
    domains and every other raw key stay read-only."""
    grants = [Grant.prefix(_everything(keys), "read")]
    for kind in sorted(kinds):
        grants.append(Grant.prefix(keys.spec_prefix(kind, domain), "readwrite"))
        grants.append(Grant.prefix(keys.events_root + f"{kind}/{domain}/".encode(), "readwrite"))
    applyset = keys.raw(f"applysets/{domain}")
    grants.append(Grant.exact(applyset, "readwrite"))
    grants.append(Grant.prefix(applyset + b".", "readwrite"))
    return sorted(set(grants))


def controller_grants(keys: KeySpace) -> list[Grant]:
    """The controllers read and write everything under the prefix."""
    return [Grant.prefix(_everything(keys), "readwrite")]


def viewer_grants(keys: KeySpace) -> list[Grant]:
    """Read everything under the prefix, write nothing: ``get``, ``describe``,
    ``diff``, ``events``, ``sync status``, dashboards, a pull request's job."""
    return [Grant.prefix(_everything(keys), "read")]


def gitops_grants(keys: KeySpace) -> list[Grant]:
    """What ``dcosctl sync DIR --prune --self-heal`` writes, and no more: the
    spec keys of every kind (apply creates, updates and prunes them), their
    events (apply records Created / Configured), the membership of the
    ``sync.<name>`` ApplySets (``applysets/sync.*``) and the sync records
    (``syncs/*``). It reads the whole prefix (the live objects, the records).
    Status keys, leader elections, instance records and IPAM keys stay the
    controllers'; so do the ApplySets of ``apply --prune``."""
    return sorted(
        {
            Grant.prefix(_everything(keys), "read"),
            Grant.prefix(keys.spec_root, "readwrite"),
            Grant.prefix(keys.events_root, "readwrite"),
            Grant.prefix(keys.raw("applysets/sync."), "readwrite"),
            Grant.prefix(keys.raw("syncs") + b"/", "readwrite"),
        }
    )


class EtcdAuth:
    """User, role and permission management over one connected client."""

    def __init__(self, client: EtcdClient) -> None:
        self._client = client

    async def _call(self, what: str, method: str, request: Any) -> Any:
        return await self._client.auth(what, method, request)

    async def enabled(self) -> bool:
        """Whether auth is on (any client may ask)."""
        response = await self._call("auth status", "AuthStatus", rpc.AuthStatusRequest())
        return bool(response.enabled)

    async def enable(self) -> bool:
        """Turn auth on; False when it already was. etcd refuses without a
        ``root`` user that has the ``root`` role."""
        if await self.enabled():
            return False
        await self._call("auth enable", "AuthEnable", rpc.AuthEnableRequest())
        logger.info("etcd auth enabled")
        return True

    async def users(self) -> list[UserInfo]:
        infos = []
        for name in await self.user_names():
            user = await self._call("user get", "UserGet", rpc.AuthUserGetRequest(name=name))
            infos.append(UserInfo(name, tuple(sorted(user.roles))))
        return infos

    async def roles(self) -> list[str]:
        response = await self._call("role list", "RoleList", rpc.AuthRoleListRequest())
        return sorted(response.roles)

    async def grants(self, role: str) -> list[Grant]:
        response = await self._call("role get", "RoleGet", rpc.AuthRoleGetRequest(role=role))
        return sorted(
            Grant(perm.key, perm.range_end, _FROM_WIRE[perm.permType]) for perm in response.perm
        )

    async def user_names(self) -> list[str]:
        response = await self._call("user list", "UserList", rpc.AuthUserListRequest())
        return sorted(response.users)

    async def ensure_user(self, name: str, password: str) -> bool:
        """Create ``name`` with ``password``; False (password untouched) when it exists."""
        if name in await self.user_names():
            return False
        request = rpc.AuthUserAddRequest(name=name, password=password)
        await self._call(f"adding user {name!r}", "UserAdd", request)
        logger.info("etcd user %s created", name)
        return True

    async def set_password(self, name: str, password: str) -> None:
        request = rpc.AuthUserChangePasswordRequest(name=name, password=password)
        await self._call(f"changing the password of {name!r}", "UserChangePassword", request)
        logger.info("etcd user %s: password changed", name)

    async def ensure_role(self, name: str, grants: Sequence[Grant]) -> bool:
        """Create ``name`` if needed and make its permissions exactly ``grants``;
        True when anything changed."""
        changed = False
        if name not in await self.roles():
            await self._call(f"adding role {name!r}", "RoleAdd", rpc.AuthRoleAddRequest(name=name))
            changed = True
        have = set(await self.grants(name))
        want = set(grants)
        for grant in sorted(have - want):
            if any((g.key, g.range_end) == (grant.key, grant.range_end) for g in want):
                continue  # re-granted below with its new permission
            request = rpc.AuthRoleRevokePermissionRequest(
                role=name, key=grant.key, range_end=grant.range_end
            )
            await self._call(
                f"revoking {grant.describe()} from {name!r}", "RoleRevokePermission", request
            )
            changed = True
        for grant in sorted(want - have):
            perm = rpc.Permission(
                permType=_TO_WIRE[grant.perm], key=grant.key, range_end=grant.range_end
            )
            request = rpc.AuthRoleGrantPermissionRequest(name=name, perm=perm)
            await self._call(
                f"granting {grant.describe()} to {name!r}", "RoleGrantPermission", request
            )
            changed = True
        if changed:
            logger.info("etcd role %s: %d permissions", name, len(want))
        return changed

    async def grant_role(self, user: str, role: str) -> bool:
        """Give ``user`` the role ``role``; False when it had it."""
        request = rpc.AuthUserGetRequest(name=user)
        current = await self._call(f"reading user {user!r}", "UserGet", request)
        if role in current.roles:
            return False
        grant = rpc.AuthUserGrantRoleRequest(user=user, role=role)
        await self._call(f"granting role {role!r} to {user!r}", "UserGrantRole", grant)
        return True
