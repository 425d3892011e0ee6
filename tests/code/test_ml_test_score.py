"""docs/ml-test-score.md stays true: the rubric's 28 tests, every cited test and make target
exists, a point is backed by evidence, and the stated sums are the sums of the rows."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

PAGE = ROOT / "docs" / "ml-test-score.md"
SECTIONS = {"Data": "D", "Model": "M", "Infrastructure": "I", "Monitoring": "Mon"}
ROW = re.compile(r"^\| (?P<id>(?:Mon|D|M|I)\d) \|(?P<cells>.*)\| (?P<points>[^|]*) \|$", re.M)
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
MAKE = re.compile(r"`make ([\w-]+)")
POINTS = {"0": 0.0, "0.5": 0.5, "1": 1.0}


def _rows() -> list[re.Match[str]]:
    return list(ROW.finditer(PAGE.read_text()))


def _row_section(row_id: str) -> str:
    prefix = re.match(r"\D+", row_id).group()
    return next(name for name, letter in SECTIONS.items() if letter == prefix)


@cache
def _defined(path: Path) -> set[str]:
    """``name`` of every test function, ``Class::name`` of every test method in ``path``."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return names


def test_the_page_has_the_rubrics_28_tests_in_order():
    ids = [row["id"] for row in _rows()]
    assert ids == [f"{p}{n}" for p in SECTIONS.values() for n in range(1, 8)]


def test_every_cited_test_exists():
    cited = TEST_ID.findall(PAGE.read_text())
    assert len(cited) > 28
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (ROOT / path).is_file() or name not in _defined(ROOT / path)
    ]
    assert not missing, f"docs/ml-test-score.md cites tests that do not exist: {missing}"


def test_every_cited_make_target_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    cited = set(MAKE.findall(PAGE.read_text()))
    assert cited, "no make target cited"
    assert cited <= targets, f"not targets of the Makefile: {sorted(cited - targets)}"


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["id"])
def test_a_point_needs_evidence_and_no_evidence_scores_nothing(row):
    points = POINTS[row["points"].strip()]  # KeyError: points other than 0, 0.5, 1
    evidence = row["cells"].rsplit("|", 1)[-1]
    cites = bool(TEST_ID.search(evidence) or MAKE.search(evidence))
    assert cites or points == 0, f"{row['id']} scores {points} with no test or target cited"


def test_the_section_sums_and_the_score_are_the_rows():
    text = PAGE.read_text()
    sums: dict[str, float] = dict.fromkeys(SECTIONS, 0.0)
    for row in _rows():
        sums[_row_section(row["id"])] += POINTS[row["points"].strip()]
    for name, total in sums.items():
        stated = re.findall(rf"^{name}: ([\d.]+)$", text, re.M)
        assert stated == [f"{total:g}"], f"{name}: the rows sum to {total:g}, stated {stated}"
        (summary,) = re.findall(rf"^\| {name} \| ([\d.]+) \|$", text, re.M)
        assert float(summary) == total, f"the summary table gives {name} {summary}"
    (score,) = re.findall(
        r"^\| \*\*ML Test Score \(the minimum\)\*\* \| \*\*([\d.]+)\*\* \|$", text, re.M
    )
    assert float(score) == min(sums.values())


def test_testing_md_links_the_page():
    assert "(ml-test-score.md)" in (ROOT / "docs" / "testing.md").read_text()
