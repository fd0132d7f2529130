"""Where ``dcosctl`` finds etcd: flags, the environment, the config file, the default.

Each setting comes from the first of these that gives it:

1. the global flags ``--etcd URL[,URL]``, ``--prefix`` and ``--timeout``;
2. the environment: ``DCOS_ETCD`` (endpoints, comma-separated);
3. the context of the config file named by ``--context``, else its
   ``current-context``. The file is ``$DCOS_CONFIG``, else
   ``$XDG_CONFIG_HOME/dcosctl/config.yaml`` (``~/.config/dcosctl/config.yaml``);
4. the defaults: ``http://127.0.0.1:2379`` (where ``dcosctl up`` puts etcd)
   and the prefix ``/dcos``.

Credentials and TLS files come only from the context. The file is shaped like
a kubeconfig::

    current-context: local
    contexts:
    - name: local
      etcd:
        endpoints: [http://127.0.0.1:2379]
        prefix: /dcos
        username: ops            # optional, with password
        password: secret
        ca-file: ca.pem          # optional; relative paths are relative to the file
        cert-file: client.pem
        key-file: client-key.pem
        timeout: 5               # seconds per etcd request

A mistake in the file is a :class:`crds.errors.SpecError` naming the file and
the field. A file that holds a password, and a context's key file, must not be
readable by group or others (``chmod 600``); otherwise the command refuses to
run, as ssh does with a private key. This module imports only the standard library at load time: the
YAML parser is loaded when a file is read, and ``adapters.etcd`` only when
:func:`etcd_settings` builds the store's settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crds.errors import SpecError

if TYPE_CHECKING:
    from adapters.etcd import EtcdSettings

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_PREFIX",
    "Connection",
    "GlobalOptions",
    "config_path",
    "etcd_settings",
    "resolve",
]

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
DEFAULT_PREFIX = "/dcos"
DEFAULT_TIMEOUT = 5.0

_ETCD_FIELDS = {
    "endpoints",
    "prefix",
    "username",
    "password",
    "ca-file",
    "cert-file",
    "key-file",
    "timeout",
}


@dataclass(frozen=True)
class GlobalOptions:
    """The global flags, as typed; ``None`` when not given."""

    etcd: str | None = None
    """Comma-separated endpoints from ``--etcd``."""
    prefix: str | None = None
    """The key prefix from ``--prefix``."""
    context: str | None = None
    """The config-file context from ``--context``."""
    timeout: float | None = None
    """Seconds per etcd request, from ``--timeout``."""


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach the store, resolved from flags, env and file."""

    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    context: str | None = None
    """The config-file context used, if any."""


def config_path(env: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file and whether it was named explicitly (by ``DCOS_CONFIG``)."""
    explicit = env.get("DCOS_CONFIG")
    if explicit:
        return Path(explicit).expanduser(), True
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dcosctl" / "config.yaml", False


def split_endpoints(value: str, *, source: str) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``; empty parts are an error naming ``source``."""
    parts = tuple(part.strip() for part in value.split(","))
    if not parts or not all(parts):
        raise SpecError(f"expected URL[,URL], got {value!r}", source=source)
    return parts


def resolve(options: GlobalOptions, env: Mapping[str, str] | None = None) -> Connection:
    """The connection the flags, the environment (``os.environ`` when None) and
    the config file ask for."""
    env = os.environ if env is None else env
    path, explicit = config_path(env)
    base = _from_file(path, options.context, explicit=explicit)
    endpoints = base.endpoints
    if options.etcd is not None:
        endpoints = split_endpoints(options.etcd, source="--etcd")
    elif env.get("DCOS_ETCD"):
        endpoints = split_endpoints(env["DCOS_ETCD"], source="DCOS_ETCD")
    return Connection(
        endpoints=endpoints,
        prefix=options.prefix if options.prefix is not None else base.prefix,
        username=base.username,
        password=base.password,
        ca_file=base.ca_file,
        cert_file=base.cert_file,
        key_file=base.key_file,
        timeout=options.timeout if options.timeout is not None else base.timeout,
        context=base.context,
    )


def etcd_settings(conn: Connection) -> EtcdSettings:
    """The store settings for ``conn`` (imports the etcd adapter)."""
    from adapters.etcd import EtcdSettings

    try:
        return EtcdSettings(
            endpoints=conn.endpoints,
            prefix=conn.prefix,
            username=conn.username,
            password=conn.password,
            ca_file=conn.ca_file,
            cert_file=conn.cert_file,
            key_file=conn.key_file,
            timeout=conn.timeout,
        )
    except ValueError as exc:
        raise SpecError(str(exc)) from None


def _from_file(path: Path, context: str | None, *, explicit: bool) -> Connection:
    """The named (or current) context of the file at ``path``; defaults when the
    default file does not exist and no context was asked for."""
    if not path.exists():
        if explicit:
            raise SpecError("config file not found (named by DCOS_CONFIG)", source=str(path))
        if context is not None:
            raise SpecError(f"--context {context!r} given but there is no config file {path}")
        return Connection()
    data = _load_yaml(path)
    if data is None:
        data = {}
    source = str(path)
    if not isinstance(data, dict):
        raise SpecError("expected a mapping at the top level", source=source)
    if _holds_password(data):
        check_private(path, "a password")
    _reject_unknown(data, {"current-context", "contexts"}, source=source, where="")
    contexts = data.get("contexts") or []
    if not isinstance(contexts, list):
        raise SpecError("expected a list of contexts", source=source, field="contexts")
    wanted = context if context is not None else data.get("current-context")
    if wanted is None:
        return Connection()
    if not isinstance(wanted, str):
        raise SpecError("expected a context name", source=source, field="current-context")
    for index, entry in enumerate(contexts):
        where = f"contexts[{index}]"
        if not isinstance(entry, dict):
            raise SpecError("expected a mapping with name and etcd", source=source, field=where)
        _reject_unknown(entry, {"name", "etcd"}, source=source, where=where)
        if entry.get("name") == wanted:
            return _context(entry, wanted, source=source, where=where, base=path.parent)
    field = "--context" if context is not None else "current-context"
    known = ", ".join(str(c.get("name")) for c in contexts if isinstance(c, dict)) or "none"
    raise SpecError(f"context {wanted!r} not found (contexts: {known})", source=source, field=field)


def _holds_password(data: dict[Any, Any]) -> bool:
    contexts = data.get("contexts")
    return isinstance(contexts, list) and any(
        isinstance(c, dict) and isinstance(c.get("etcd"), dict) and c["etcd"].get("password")
        for c in contexts
    )


def check_private(path: Path, holds: str) -> None:
    """SpecError when ``path`` (which holds ``holds``) is readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        raise SpecError(
            f"holds {holds} but is readable by group or others "
            f"(mode {mode & 0o777:03o}): run chmod 600 {path}",
            source=str(path),
        )


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SpecError(f"invalid YAML: {exc.problem}", source=where) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", source=str(path)) from None


def _reject_unknown(data: dict[Any, Any], known: set[str], *, source: str, where: str) -> None:
    for key in data:
        if key not in known:
            field = f"{where}.{key}" if where else str(key)
            raise SpecError(
                f"unknown field (expected one of: {', '.join(sorted(known))})",
                source=source,
                field=field,
            )


def _context(
    entry: dict[str, Any], name: str, *, source: str, where: str, base: Path
) -> Connection:
    etcd = entry.get("etcd") or {}
    where = f"{where}.etcd"
    if not isinstance(etcd, dict):
        raise SpecError("expected a mapping", source=source, field=where)
    _reject_unknown(etcd, _ETCD_FIELDS, source=source, where=where)

    def text(key: str) -> str | None:
        value = etcd.get(key)
        if value is not None and not isinstance(value, str):
            raise SpecError("expected a string", source=source, field=f"{where}.{key}")
        return value

    def file(key: str) -> str | None:
        value = text(key)
        return None if value is None else str(base / Path(value).expanduser())

    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    raw = etcd.get("endpoints")
    if isinstance(raw, str):
        endpoints = split_endpoints(raw, source=f"{source}: {where}.endpoints")
    elif raw is not None:
        if not isinstance(raw, list) or not raw or not all(isinstance(u, str) for u in raw):
            raise SpecError("expected a list of URLs", source=source, field=f"{where}.endpoints")
        endpoints = tuple(raw)
    timeout = etcd.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise SpecError(
            "expected a positive number of seconds", source=source, field=f"{where}.timeout"
        )
    if (text("username") is None) != (text("password") is None):
        raise SpecError(
            "username and password go together", source=source, field=f"{where}.username"
        )
    key_file = file("key-file")
    if key_file is not None:
        check_private(Path(key_file), "a private key")
    return Connection(
        endpoints=endpoints,
        prefix=text("prefix") or DEFAULT_PREFIX,
        username=text("username"),
        password=text("password"),
        ca_file=file("ca-file"),
        cert_file=file("cert-file"),
        key_file=key_file,
        timeout=float(timeout),
        context=name,
    )
