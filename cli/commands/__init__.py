"""The ``dcosctl`` commands, one module each, and what they share.

Every command parses its arguments, calls one function of ``reconciler`` or
``adapters`` and renders the result with :mod:`cli.output`. Modules import only
``typer`` and the standard library at load time, so ``dcosctl --help`` stays
fast; the kinds, the store and the YAML parser load inside the commands.

:func:`guard` is the error boundary: a :class:`crds.errors.DcosError` (bad
file, unknown kind, etcd down, conflict) becomes one ``error:`` line on stderr
and exit code 1 (2 for ``diff``, as ``kubectl diff``), never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

from cli.config import Connection, GlobalOptions, resolve
from cli.output import print_error

if TYPE_CHECKING:
    from adapters.protocols import ObjectKey, Store
    from crds.meta import Resource

__all__ = [
    "USAGE",
    "connection",
    "guard",
    "object_key",
    "open_store",
    "resolve_kind",
    "run",
]

P = ParamSpec("P")
T = TypeVar("T")

USAGE = 2
"""Exit code for a wrong combination of arguments, as click uses for usage errors."""


def guard(code: int = 1) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Turn user errors raised by ``fn`` into one ``error:`` line and exit ``code``."""

    def decorate(fn: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
            from crds.errors import DcosError

            try:
                fn(*args, **kwargs)
            except DcosError as exc:
                print_error(str(exc))
                raise typer.Exit(code) from None
            except BrokenPipeError:
                raise  # the reader went away (| head): typer exits quietly
            except OSError as exc:
                where = f"{exc.filename}: " if exc.filename else ""
                print_error(f"{where}{exc.strerror or exc}")
                raise typer.Exit(code) from None

        return wrapper

    return decorate


def connection(ctx: typer.Context) -> Connection:
    """The store connection the global options, environment and config ask for."""
    options = ctx.find_root().obj
    if not isinstance(options, GlobalOptions):
        options = GlobalOptions()
    return resolve(options)


@asynccontextmanager
async def open_store(conn: Connection) -> AsyncIterator[Store]:
    """The etcd store for ``conn``; errors arrive as ``crds.errors`` exceptions."""
    from adapters.etcd import open_store as open_etcd
    from cli.config import etcd_settings

    async with open_etcd(etcd_settings(conn)) as store:
        yield store


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine to completion."""
    import asyncio

    return asyncio.run(coro)


def resolve_kind(name: str) -> type[Resource]:
    """The kind class for a name, plural or short name (loads every kind)."""
    import crds.kinds  # noqa: F401  (registers the kinds)
    from crds.registry import resolve_kind as resolve

    return resolve(name)


def object_key(cls: type[Resource], name: str, domain: str | None) -> ObjectKey:
    """The :class:`adapters.protocols.ObjectKey` of ``name``; a domain-scoped kind
    needs ``domain`` (exit 2 otherwise), a cluster-scoped one ignores it."""
    from adapters.protocols import ObjectKey
    from cli.output import fail
    from crds.meta import Scope

    kind = cls.model_fields["kind"].default
    if cls.SCOPE is Scope.DOMAIN:
        if not domain:
            fail(f"{kind} is domain-scoped: name its domain with -d DOMAIN", USAGE)
        return ObjectKey(kind, domain, name)
    return ObjectKey(kind, None, name)


def read_manifests(filenames: list[str], *, recursive: bool) -> list[Any]:
    """Load and validate every document of ``filenames`` (``-`` reads stdin)."""
    import sys

    import crds.kinds  # noqa: F401  (registers the kinds)
    from reconciler.apply import load_manifests

    return list(load_manifests(filenames, recursive=recursive, stdin=sys.stdin))
