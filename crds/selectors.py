"""Label selectors, as Kubernetes writes them.

``app=web,tier!=db,env in (prod,staging),release notin (canary),gpu,!legacy``
is a conjunction of requirements:

======================  =========================================
``k=v``, ``k==v``       label k is present and equals v
``k!=v``                label k is absent or differs from v
``k in (a,b)``          label k is present and is one of a, b
``k notin (a,b)``       label k is absent or is none of a, b
``k``                   label k is present
``!k``                  label k is absent
======================  =========================================

:func:`parse_selector` turns the text into a frozen :class:`Selector`; a bad
selector is a :class:`crds.errors.SpecError` naming it. The empty selector
matches everything. Pure standard library: the store filters with it, and so
can the CLI.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from crds.errors import SpecError

__all__ = ["Operator", "Requirement", "Selector", "parse_selector"]

logger = logging.getLogger(__name__)

_KEY = r"(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?" + (
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_VALUE = r"(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?"
_VALUE_RE = re.compile(rf"^{_VALUE}$")
_EXISTS = re.compile(rf"^(?P<not>!?)\s*(?P<key>{_KEY})$")
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")


class Operator(enum.StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        match self.operator:
            case Operator.EQUALS | Operator.IN:
                return value is not None and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return value is None or value not in self.values
            case Operator.EXISTS:
                return value is not None
            case Operator.DOES_NOT_EXIST:
                return value is None

    def __str__(self) -> str:
        match self.operator:
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"
            case Operator.EQUALS | Operator.NOT_EQUALS:
                return f"{self.key}{self.operator.value}{next(iter(self.values))}"
            case _:
                return f"{self.key} {self.operator.value} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class Selector:
    """All requirements must hold."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split(text: str) -> list[str]:
    """Split at commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _requirement(part: str) -> Requirement:
    if match := _SET.match(part):
        values = [v.strip() for v in match["values"].split(",")]
        if not all(values):
            raise ValueError(f"{part!r}: '{match['op']}' needs a non-empty list of values")
        for value in values:
            if not _VALUE_RE.match(value):
                raise ValueError(f"{part!r}: {value!r} is not a valid label value")
        return Requirement(match["key"], Operator(match["op"]), frozenset(values))
    if match := _EQUALITY.match(part):
        operator = Operator.NOT_EQUALS if match["op"] == "!=" else Operator.EQUALS
        return Requirement(match["key"], operator, frozenset([match["value"]]))
    if match := _EXISTS.match(part):
        operator = Operator.DOES_NOT_EXIST if match["not"] else Operator.EXISTS
        return Requirement(match["key"], operator)
    raise ValueError(f"cannot parse {part!r}")


def parse_selector(text: str) -> Selector:
    """The selector ``text`` means; SpecError naming it when it is invalid."""
    if not text.strip():
        return Selector()
    try:
        parts = [p.strip() for p in _split(text)]
        if any(not p for p in parts):
            raise ValueError("empty requirement")
        return Selector(tuple(_requirement(p) for p in parts))
    except ValueError as exc:
        raise SpecError(f"invalid label selector {text!r}: {exc}", field="selector") from exc
