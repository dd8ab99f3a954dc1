"""Every rule the code, tests and docs cite ("rule G2", "rules K1-K4") is defined in docs/design.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"
CITED_IN = ("src", "tests", "docs", "examples", "scripts", "README.md")

_ANCHOR = re.compile(r'<a id="rule-([a-z])(\d+)"></a>\*\*([A-Z])(\d+) ')
_CITATION = re.compile(r"\brules? ((?:[A-Z]\d+(?:-[A-Z]?\d+)?)(?:(?:, | and |, and )[A-Z]\d+(?:-[A-Z]?\d+)?)*)")
_ITEM = re.compile(r"([A-Z])(\d+)(?:-([A-Z])?(\d+))?")


def defined_rules(text: str) -> list[str]:
    """The rule ids ``docs/design.md`` defines, in order; each anchor must name its own rule."""
    rules = []
    for anchor_letter, anchor_number, letter, number in _ANCHOR.findall(text):
        assert (anchor_letter.upper(), anchor_number) == (letter, number), f"anchor rule-{anchor_letter}{anchor_number}"
        rules.append(f"{letter}{number}")
    return rules


def cited_rules(text: str) -> set[str]:
    """The rule ids a text cites, ranges such as ``K1-K4`` expanded."""
    cited = set()
    for group in _CITATION.findall(text):
        for letter, first, last_letter, last in _ITEM.findall(group):
            if last_letter and last_letter != letter:
                raise AssertionError(f"a range across groups: {group!r}")
            end = int(last) if last else int(first)
            cited.update(f"{letter}{number}" for number in range(int(first), end + 1))
    return cited


def test_citations_are_parsed_with_their_ranges_and_lists() -> None:
    text = "as rule G2 says; see rules K1-K4, and rules R2, X3 and C3; not a rule: rule of thumb"
    assert cited_rules(text) == {"G2", "K1", "K2", "K3", "K4", "R2", "X3", "C3"}


def test_every_rule_is_defined_once_with_a_matching_anchor() -> None:
    rules = defined_rules(DESIGN.read_text())
    assert len(rules) >= 50
    assert len(rules) == len(set(rules))


def test_every_cited_rule_is_defined() -> None:
    defined = set(defined_rules(DESIGN.read_text()))
    undefined: dict[str, set[str]] = {}
    for place in CITED_IN:
        path = ROOT / place
        files = [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.md")]
        for file in files:
            missing = cited_rules(file.read_text(encoding="utf-8")) - defined
            if missing:
                undefined[str(file.relative_to(ROOT))] = missing
    assert not undefined, f"cited rules missing from docs/design.md: {undefined}"


def test_the_product_contract_is_cited_by_rule_not_by_an_absent_document() -> None:
    cites_spec = []
    for place in CITED_IN:
        path = ROOT / place
        files = [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.md")]
        cites_spec += [str(file.relative_to(ROOT)) for file in files if re.search(r"SPEC(\.md| §)", file.read_text())]
    assert not cites_spec
