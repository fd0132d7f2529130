"""Label selectors: parsing and matching, as a table."""

from __future__ import annotations

import pytest

from crds.errors import SpecError
from crds.selectors import Operator, Requirement, Selector, parse_selector

LABELS = {"app": "web", "tier": "front", "env": "prod", "example.com/team": "shop"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("", True, id="empty-matches-all"),
        pytest.param("app=web", True, id="equals"),
        pytest.param("app==web", True, id="double-equals"),
        pytest.param("app=db", False, id="equals-other"),
        pytest.param("app!=db", True, id="not-equals"),
        pytest.param("app!=web", False, id="not-equals-same"),
        pytest.param("missing!=x", True, id="not-equals-absent"),
        pytest.param("env in (prod,staging)", True, id="in"),
        pytest.param("env in (dev)", False, id="in-other"),
        pytest.param("missing in (x)", False, id="in-absent"),
        pytest.param("env notin (dev, qa)", True, id="notin"),
        pytest.param("env notin (prod)", False, id="notin-member"),
        pytest.param("missing notin (x)", True, id="notin-absent"),
        pytest.param("app", True, id="exists"),
        pytest.param("missing", False, id="exists-absent"),
        pytest.param("!missing", True, id="not-exists"),
        pytest.param("!app", False, id="not-exists-present"),
        pytest.param("example.com/team=shop", True, id="prefixed-key"),
        pytest.param("app=web,tier!=db,env in (prod),!legacy", True, id="conjunction"),
        pytest.param(" app = web , env in ( prod , qa ) ", True, id="whitespace"),
        pytest.param("app=web,tier=back", False, id="conjunction-fails"),
    ],
)
def test_selector_matches(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("app=", id="empty-value-is-allowed"),
        pytest.param("a in (x,y)", id="set"),
    ],
)
def test_valid_selectors_parse(selector: str) -> None:
    assert isinstance(parse_selector(selector), Selector)


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param("app=web,", id="trailing-comma"),
        pytest.param(",app", id="leading-comma"),
        pytest.param("app in ()", id="empty-set"),
        pytest.param("app in (a,)", id="empty-set-member"),
        pytest.param("app in a", id="set-without-parens"),
        pytest.param("app=we b", id="space-in-value"),
        pytest.param("-app=web", id="bad-key"),
        pytest.param("app=>web", id="bad-operator"),
        pytest.param("app=web)", id="stray-paren"),
        pytest.param("!app=web", id="negated-equality"),
    ],
)
def test_invalid_selector_is_spec_error_naming_it(selector: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_selector(selector)
    assert repr(selector) in str(caught.value)
    assert caught.value.field == "selector"


def test_parsed_selector_is_frozen_structure_and_round_trips() -> None:
    parsed = parse_selector("app=web,env in (qa,prod),!legacy")
    assert parsed.requirements == (
        Requirement("app", Operator.EQUALS, frozenset({"web"})),
        Requirement("env", Operator.IN, frozenset({"prod", "qa"})),
        Requirement("legacy", Operator.DOES_NOT_EXIST),
    )
    assert parse_selector(str(parsed)) == parsed
    assert hash(parsed) == hash(parse_selector(str(parsed)))
