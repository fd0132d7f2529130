"""``dcosctl admin``: etcd users, roles and authentication for simple-dcos.

``admin init`` prepares an etcd for production use, as etcd's ``root``:

- the ``root`` user (role ``root``), when auth is still off;
- the ``controller`` user and role: read-write on the whole key prefix, for
  ``dcos-controller``;
- the ``viewer`` user and role: read-only on the whole prefix
  (:func:`adapters.etcd.auth.viewer_grants`), for ``get``, ``describe``,
  ``diff``, ``sync status``, dashboards and a pull request's CI job;
- the ``gitops`` user and role (:func:`adapters.etcd.auth.gitops_grants`):
  what ``dcosctl sync --prune --self-heal`` writes (spec keys of every kind,
  events, ``applysets/sync.*``, ``syncs/*``), for the merge's CI job;
- per Domain (every stored Domain, plus ``--domain NAME``), the user and
  role ``domain-<name>`` (:func:`adapters.etcd.auth.domain_grants`): read
  the whole prefix, read-write only that domain's spec keys of the
  domain-scoped kinds, their events and the domain's ApplySet records;
- then it enables auth.

Each user's password is generated (:func:`secrets.token_urlsafe`) and written
only to that user's config file in ``--dir`` (mode 0600, the folder 0700):
``<user>.yaml`` is a ``dcosctl`` config (``DCOS_CONFIG=<file> dcosctl ...``)
whose one context carries the endpoints, prefix and TLS files of the
connection ``admin`` used; ``dcos-controller.yaml`` is the same for
``dcos-controller run --config``. The command prints paths, never a password.

Every step may be repeated: existing users keep their password (and file),
roles are set to exactly the policy (missing permissions granted, stale ones
revoked), a Domain added since gets its user. A user whose file is gone gets
a new password and a new file, which is the only way to learn it again.
``admin domain NAME`` does the one Domain; ``admin users`` lists users,
roles and permissions.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.commands import USAGE, connection, guard, open_store, run
from cli.output import fail, render_table

if TYPE_CHECKING:
    from adapters.etcd.auth import EtcdAuth, Grant
    from cli.config import Connection

__all__ = ["admin", "default_dir"]

admin = typer.Typer(
    name="admin",
    help="Manage etcd authentication: per-domain users, the controller user, auth on.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

CONTROLLER = "controller"
CONTROLLER_CONFIG = "dcos-controller.yaml"
_DOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def default_dir(env: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/dcosctl/users`` (``~/.config/dcosctl/users``)."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dcosctl" / "users"


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        metavar="DIR",
        help="Where the users' config files go (default ~/.config/dcosctl/users).",
    ),
]


@dataclass(frozen=True)
class _Outcome:
    user: str
    action: str
    path: Path | None


@admin.command("init")
@guard()
def init(
    ctx: typer.Context,
    directory: DirOption = None,
    domains: Annotated[
        list[str] | None,
        typer.Option(
            "--domain", metavar="NAME", help="A domain's user even without a stored Domain."
        ),
    ] = None,
) -> None:
    """Create the root, controller, viewer, gitops and per-domain users and roles; enable auth."""
    folder = directory or default_dir()
    for name in domains or []:
        _check_domain(name)
    _warn_if_plaintext(connection(ctx))
    outcomes, enabled = run(_init(connection(ctx), folder, domains or [], every_domain=True))
    _report(outcomes)
    print("etcd auth: " + ("enabled" if enabled else "already enabled"))
    root = folder / "root.yaml"
    print(f"next: DCOS_CONFIG={root} dcosctl admin users", file=sys.stderr)


@admin.command("domain")
@guard()
def domain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The Domain's name.")],
    directory: DirOption = None,
) -> None:
    """Create (or update) the user and role of one domain, as etcd's root."""
    _check_domain(name)
    outcomes, _ = run(
        _init(connection(ctx), directory or default_dir(), [name], every_domain=False)
    )
    _report(outcomes)


@admin.command("users")
@guard()
def users(ctx: typer.Context) -> None:
    """List etcd's users, their roles and each role's permissions (no secrets)."""
    rows = run(_users(connection(ctx)))
    table, _ = render_table(["USER", "ROLE", "PERMISSION", "KEYS"], rows)
    print(table)


def _warn_if_plaintext(conn: Connection) -> None:
    tls = conn.ca_file is not None or conn.cert_file is not None
    if not tls and not all(e.startswith("https://") for e in conn.endpoints):
        print(
            "warning: etcd is reached without TLS: passwords and data cross the network "
            "in clear text (set ca-file, cert-file and key-file in the config)",
            file=sys.stderr,
        )


def _check_domain(name: str) -> None:
    if not _DOMAIN.match(name):
        fail(f"--domain {name!r}: a domain is a DNS label (a-z, 0-9, '-')", USAGE)


def _report(outcomes: list[_Outcome]) -> None:
    rows = [[o.user, o.action, "" if o.path is None else str(o.path)] for o in outcomes]
    table, _ = render_table(["USER", "ACTION", "CONFIG"], rows)
    print(table)


def _domain_kinds() -> list[str]:
    import crds.kinds  # noqa: F401  (registers the kinds)
    from crds.meta import Scope
    from crds.registry import KINDS

    return sorted(kind for kind, cls in KINDS.items() if cls.SCOPE is Scope.DOMAIN)


async def _init(
    conn: Connection, folder: Path, extra: list[str], *, every_domain: bool
) -> tuple[list[_Outcome], bool]:
    from adapters.etcd import EtcdStore
    from adapters.etcd.auth import (
        GITOPS,
        ROOT,
        VIEWER,
        EtcdAuth,
        controller_grants,
        domain_grants,
        domain_user,
        gitops_grants,
        viewer_grants,
    )
    from adapters.etcd.client import PermissionDenied
    from crds.errors import DcosError

    kinds = _domain_kinds()  # also registers the kinds, for the list of Domains
    async with open_store(conn) as store:
        assert isinstance(store, EtcdStore)
        auth = EtcdAuth(store.client)
        try:
            on = await auth.enabled()
        except PermissionDenied:
            on = True  # once auth is on, only root may even ask
        if on and conn.username != ROOT:
            raise DcosError(
                "etcd auth is on: run this as root, e.g. "
                f"DCOS_CONFIG={folder / 'root.yaml'} dcosctl admin ..."
            )
        names = set(extra)
        if every_domain:
            names |= {d.metadata.name for d in (await store.list("Domain")).items}
        _private_folder(folder)
        outcomes: list[_Outcome] = []
        if every_domain:
            outcomes.append(await _root(auth, conn, folder))
            grants = controller_grants(store.keys)
            outcomes.append(await _user(auth, conn, folder, CONTROLLER, grants))
            grants = viewer_grants(store.keys)
            outcomes.append(await _user(auth, conn, folder, VIEWER, grants))
            grants = gitops_grants(store.keys)
            outcomes.append(await _user(auth, conn, folder, GITOPS, grants))
        for name in sorted(names):
            grants = domain_grants(store.keys, name, kinds)
            outcomes.append(await _user(auth, conn, folder, domain_user(name), grants))
        enabled = await auth.enable() if every_domain else False
    return outcomes, enabled


async def _root(auth: EtcdAuth, conn: Connection, folder: Path) -> _Outcome:
    from adapters.etcd.auth import ROOT

    path = folder / f"{ROOT}.yaml"
    if conn.username == ROOT and conn.password is not None:
        # Auth is on and this is root: its password is known; keep a file of it.
        if path.exists():
            return _Outcome(ROOT, "unchanged", path)
        _write_user_config(path, conn, ROOT, conn.password)
        return _Outcome(ROOT, "config written", path)
    return await _user(auth, conn, folder, ROOT, None)


async def _user(
    auth: EtcdAuth, conn: Connection, folder: Path, name: str, grants: list[Grant] | None
) -> _Outcome:
    """Ensure user ``name`` with role ``name`` (``grants``; None: etcd's root role)."""
    import secrets

    path = folder / f"{name}.yaml"
    password = secrets.token_urlsafe(24)
    created = await auth.ensure_user(name, password)
    if created:
        action = "created"
    elif path.exists():
        action = "unchanged"
    else:
        await auth.set_password(name, password)
        action = "password reset (no config file)"
    if created or action != "unchanged":
        _write_user_config(path, conn, name, password)
        if name == CONTROLLER:
            _write_controller_config(folder / CONTROLLER_CONFIG, conn, name, password)
    role_changed = False
    if grants is not None:
        role_changed = await auth.ensure_role(name, grants)
    role_granted = await auth.grant_role(name, name)
    if action == "unchanged" and (role_changed or role_granted):
        action = "role updated"
    return _Outcome(name, action, path)


def _private_folder(folder: Path) -> None:
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (a temporary file, renamed)."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(temporary, path)


def _yaml(value: object) -> str:
    import json

    return json.dumps(value)  # JSON is YAML, and quotes whatever needs quoting


def _write_user_config(path: Path, conn: Connection, user: str, password: str) -> None:
    lines = [
        f"current-context: {_yaml(user)}",
        "contexts:",
        f"- name: {_yaml(user)}",
        "  etcd:",
        f"    endpoints: {_yaml(list(conn.endpoints))}",
        f"    prefix: {_yaml(conn.prefix)}",
        f"    username: {_yaml(user)}",
        f"    password: {_yaml(password)}",
    ]
    for key, value in (
        ("ca-file", conn.ca_file),
        ("cert-file", conn.cert_file),
        ("key-file", conn.key_file),
    ):
        if value is not None:
            lines.append(f"    {key}: {_yaml(str(Path(value).resolve()))}")
    lines.append(f"    timeout: {conn.timeout:g}")
    _write_private(path, "\n".join(lines) + "\n")


def _write_controller_config(path: Path, conn: Connection, user: str, password: str) -> None:
    lines = [
        f"etcd: {_yaml(list(conn.endpoints))}",
        f"prefix: {_yaml(conn.prefix)}",
        f"etcd-username: {_yaml(user)}",
        f"etcd-password: {_yaml(password)}",
    ]
    for key, value in (
        ("etcd-ca-file", conn.ca_file),
        ("etcd-cert-file", conn.cert_file),
        ("etcd-key-file", conn.key_file),
    ):
        if value is not None:
            lines.append(f"{key}: {_yaml(str(Path(value).resolve()))}")
    _write_private(path, "\n".join(lines) + "\n")


async def _users(conn: Connection) -> list[list[str]]:
    from adapters.etcd import EtcdStore
    from adapters.etcd.auth import ROOT, EtcdAuth

    async with open_store(conn) as store:
        assert isinstance(store, EtcdStore)
        auth = EtcdAuth(store.client)
        rows: list[list[str]] = []
        grants: dict[str, list[Grant]] = {}
        for user in await auth.users():
            if not user.roles:
                rows.append([user.name, "-", "-", "-"])
            for role in user.roles:
                if role == ROOT:
                    rows.append([user.name, role, "readwrite", "every key; users and roles"])
                    continue
                if role not in grants:
                    grants[role] = await auth.grants(role)
                rows.extend(_grant_rows(user.name, role, grants[role]))
    return rows


def _grant_rows(user: str, role: str, grants: list[Grant]) -> list[list[str]]:
    if not grants:
        return [[user, role, "-", "-"]]
    return [[user, role, grant.perm, grant.describe()] for grant in grants]
