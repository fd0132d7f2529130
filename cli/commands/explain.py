"""``dcosctl explain``: a kind's fields and their documentation, from the models."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import guard

__all__ = ["explain"]


@guard()
def explain(
    path: Annotated[
        str,
        typer.Argument(
            metavar="KIND[.FIELD.PATH]", help="A kind and optionally a field: App.spec.backoff."
        ),
    ],
) -> None:
    """Describe a kind or one of its fields."""
    import crds.kinds  # noqa: F401  (registers the kinds)
    from crds.explain import explain as explain_path

    text = explain_path(path)
    print(text.rstrip("\n"))
