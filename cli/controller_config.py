"""Where ``dcos-controller run`` takes each setting from: flags, environment, file, default.

Each setting comes from the first of these that gives it:

1. its flag (``--etcd``, ``--prefix``, ``--mesos``, ``--metrics-addr``, ``--id``,
   ``--lease-ttl``, ``--timeout``, ``--log-level``, ``--cmdb``, ``--cmdb-role``,
   ``--cmdb-tag``, ``--dashboard``/``--no-dashboard``);
2. the environment, for the settings that have a variable: ``DCOS_ETCD``,
   ``DCOS_MESOS``, ``DCOS_CMDB`` and ``DCOS_CMDB_TOKEN`` (the CMDB's API token);
3. the config file named by ``--config FILE``, else by
   ``$DCOS_CONTROLLER_CONFIG``: a YAML mapping whose keys are the flags'
   names without the dashes, plus the etcd credentials and TLS files and
   the CMDB token, which have no flags so that they never show in ``ps``::

       etcd: [https://10.0.0.1:2379, https://10.0.0.2:2379]   # or "URL,URL"
       prefix: /dcos
       mesos: http://10.0.0.5:5050                             # or a list
       metrics-addr: 0.0.0.0:9100
       id: ctl-a
       lease-ttl: 5
       dashboard: true                  # the web dashboard on metrics-addr (false: off)
       timeout: 5
       log-level: info
       etcd-username: controller        # optional, with etcd-password
       etcd-password: secret
       etcd-ca-file: ca.pem             # optional; relative to the file
       etcd-cert-file: client.pem       # with etcd-key-file
       etcd-key-file: client-key.pem
       cmdb: https://netbox.example.com  # NetBox; the CMDB write-back and the Host controller
       cmdb-token: 0123...              # with cmdb (else $DCOS_CMDB_TOKEN)
       cmdb-role: container-host        # optional: the devices that are hosts, by role
       cmdb-tag: dcos                   # and/or by tag

4. the defaults in :data:`DEFAULTS`.

A config file that holds ``etcd-password`` or ``cmdb-token``, and the file
``etcd-key-file`` names, must not be readable by group or others
(``chmod 600``): the controller refuses to start otherwise.

:func:`resolve` fills an ``argparse`` namespace whose flags default to None,
so that "not given" is visible, and records where each value came from;
:func:`check` validates the result. Both raise :class:`ConfigError`, whose
message is one line naming the source: ``--lease-ttl: must be at least 1``
for a flag, ``FILE: field lease-ttl: must be at least 1`` for the file.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_ENV", "DEFAULTS", "FILE_ONLY", "ConfigError", "check", "resolve"]

CONFIG_ENV = "DCOS_CONTROLLER_CONFIG"

DEFAULTS: dict[str, Any] = {
    "etcd": "http://127.0.0.1:2379",
    "prefix": "/dcos",
    "mesos": None,
    "metrics_addr": "127.0.0.1:9100",
    "id": None,  # <hostname>-<pid>, computed when needed
    "lease_ttl": 5,
    "timeout": 5.0,
    "log_level": "info",
    "cmdb": None,
    "cmdb_role": None,
    "cmdb_tag": None,
    "dashboard": True,
}
"""Every setting that has a flag, by its ``argparse`` destination."""

FILE_ONLY = (
    "etcd_username",
    "etcd_password",
    "etcd_ca_file",
    "etcd_cert_file",
    "etcd_key_file",
    "cmdb_token",
)
"""Settings no flag gives (they would show in ``ps``): etcd credentials and TLS
files, the CMDB token (also ``$DCOS_CMDB_TOKEN``, which beats the file)."""

_ENV = {
    "etcd": "DCOS_ETCD",
    "mesos": "DCOS_MESOS",
    "cmdb": "DCOS_CMDB",
    "cmdb_token": "DCOS_CMDB_TOKEN",
}
_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """A bad setting; ``str()`` is one line naming where it came from."""


def resolve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> None:
    """Fill the settings of ``args`` left None by the flags from the environment
    (``os.environ`` when None), the config file and :data:`DEFAULTS`; set
    ``args.sources`` (destination -> where its value came from)."""
    env = os.environ if env is None else env
    sources: dict[str, str] = {}
    path = args.config or env.get(CONFIG_ENV) or None
    data = _load(Path(path)) if path else {}
    for dest, default in DEFAULTS.items():
        flag = "--" + dest.replace("_", "-")
        if getattr(args, dest) is not None:
            sources[dest] = flag
        elif env.get(_ENV.get(dest, "")):
            setattr(args, dest, env[_ENV[dest]])
            sources[dest] = _ENV[dest]
        elif dest in data:
            setattr(args, dest, _from_file(dest, data[dest], path=str(path)))
            sources[dest] = f"{path}: field {_key(dest)}"
        else:
            setattr(args, dest, default)
            sources[dest] = flag
    if args.id is None:
        args.id = f"{socket.gethostname()}-{os.getpid()}"
    base = Path(str(path)).parent if path else Path()
    if path and (data.get("etcd_password") or data.get("cmdb_token")):
        _check_private(Path(path), "a secret")
    for dest in FILE_ONLY:
        value = data.get(dest)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: field {_key(dest)}: expected a string")
        if value is not None and dest.endswith("_file"):
            value = str(base / Path(value).expanduser())
        setattr(args, dest, value)
        sources[dest] = f"{path}: field {_key(dest)}"
        if env.get(_ENV.get(dest, "")):
            setattr(args, dest, env[_ENV[dest]])
            sources[dest] = _ENV[dest]
    if args.etcd_key_file is not None:
        _check_private(Path(args.etcd_key_file), "a private key")
    args.sources = sources


def _check_private(path: Path, holds: str) -> None:
    """ConfigError when ``path`` (which holds ``holds``) is readable by group or others
    (the rule ``dcosctl`` applies to its own config file)."""
    from cli.config import check_private
    from crds.errors import SpecError

    try:
        check_private(path, holds)
    except SpecError as exc:
        raise ConfigError(str(exc)) from None


def check(args: argparse.Namespace) -> None:
    """ConfigError for a resolved value that is not usable, naming its source."""
    from adapters.etcd import EtcdSettings
    from reconciler.runtime.metrics import parse_addr

    def fail(dest: str, message: str) -> ConfigError:
        return ConfigError(f"{args.sources[dest]}: {message}")

    for dest in ("etcd", "mesos"):
        value = getattr(args, dest)
        if value is not None and not all(part.strip() for part in value.split(",")):
            raise fail(dest, f"expected URL[,URL], got {value!r}")
    if args.lease_ttl < 1:
        raise fail("lease_ttl", "must be at least 1")
    if args.timeout <= 0:
        raise fail("timeout", "must be positive")
    if args.log_level not in _LEVELS:
        raise fail("log_level", f"expected one of {', '.join(_LEVELS)}, got {args.log_level!r}")
    if not args.id:
        raise fail("id", "must not be empty")
    try:
        parse_addr(args.metrics_addr)
    except ValueError as exc:
        raise fail("metrics_addr", str(exc)) from None
    for a, b in (("etcd_username", "etcd_password"), ("etcd_cert_file", "etcd_key_file")):
        if (getattr(args, a) is None) != (getattr(args, b) is None):
            raise fail(a, f"set {_key(a)} and {_key(b)} together")
    try:
        EtcdSettings(endpoints=endpoints(args.etcd))
    except ValueError as exc:
        raise fail("etcd", str(exc)) from None
    _check_cmdb(args, fail)


def _check_cmdb(args: argparse.Namespace, fail: Callable[[str, str], ConfigError]) -> None:
    """The CMDB settings: a URL, a token with it (never a flag), non-empty filters."""
    from urllib.parse import urlsplit

    for dest in ("cmdb_role", "cmdb_tag"):
        if getattr(args, dest) is not None and not getattr(args, dest).strip():
            raise fail(dest, "must not be empty")
    if args.cmdb is None:
        return
    url = urlsplit(args.cmdb)
    try:
        url.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise fail("cmdb", f"expected http(s)://HOST[:PORT], got {args.cmdb!r}") from None
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
        raise fail("cmdb", f"expected http(s)://HOST[:PORT], got {args.cmdb!r}")
    if not args.cmdb_token:
        where = args.sources["cmdb"]
        raise ConfigError(
            f"{where}: the CMDB needs its API token: set $DCOS_CMDB_TOKEN or cmdb-token "
            "in the config file (there is no flag, it would show in ps)"
        )
    if any(char.isspace() for char in args.cmdb_token):
        raise fail("cmdb_token", "must not contain spaces")


def endpoints(value: str) -> tuple[str, ...]:
    """``"a, b"`` -> ``("a", "b")``."""
    return tuple(part.strip() for part in value.split(","))


def _key(dest: str) -> str:
    return dest.replace("_", "-")


def _load(path: Path) -> dict[str, Any]:
    """The file's settings by destination; ConfigError for unreadable or unknown content."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    known = [*DEFAULTS, *FILE_ONLY]
    settings: dict[str, Any] = {}
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in known or "_" in str(key):
            expected = ", ".join(_key(k) for k in known)
            raise ConfigError(f"{path}: field {key}: unknown field (expected one of: {expected})")
        settings[dest] = value
    return settings


def _from_file(dest: str, value: Any, *, path: str) -> Any:
    """A file value converted to what the flag would give; ConfigError when its type is wrong."""
    where = f"{path}: field {_key(dest)}"
    if dest == "cmdb" and isinstance(value, str):
        return value
    if dest in ("etcd", "mesos"):
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return ",".join(value)
        raise ConfigError(f"{where}: expected a URL or a list of URLs, got {value!r}")
    if dest == "lease_ttl":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number of seconds, got {value!r}")
        return value
    if dest == "timeout":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number of seconds, got {value!r}")
        return float(value)
    if dest == "dashboard":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if dest == "id" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value
