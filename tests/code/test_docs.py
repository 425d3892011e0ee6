"""The documents stay true to the repository: README.md is a short front door, every figure
is the one its JSON holds (benchmarks/tables.py, `make bench-docs`), every relative link and
anchor resolves, and the paths, targets and test folders they name exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_tables", ROOT / "benchmarks" / "tables.py")
tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tables)

README = ROOT / "README.md"
DOCS = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024  # bytes: the "README is the front door, <= 12 KB"
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose(text: str) -> str:
    """Markdown without its code blocks and code spans, where links are not links."""
    return re.sub(r"`[^`]*`", "", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lowercase, punctuation dropped, spaces -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", path.read_text()), re.M):
        slug = _slug(heading)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _h2(path: Path) -> list[str]:
    return re.findall(r"^## (.+)$", FENCE.sub("", path.read_text()), re.M)


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


# --- the figures -----------------------------------------------------------------------------


def test_the_documents_figures_are_the_benchmarks_json():
    """Every marked figure re-rendered from its JSON is what the document holds."""
    blocks = tables.BLOCKS.keys() - tables.figures.DEFAULT_DATA_BLOCKS
    stale = [_rel(path) for path in tables.stale(blocks)]
    assert not stale, (
        f"{', '.join(stale)}: figures differ from benchmarks/*.json (or tests/durations.json, "
        "docs/pr-report-example.md): run `make bench-docs` and commit the result"
    )


@pytest.mark.default_data("after your pipeline run, `make bench-docs` writes your metrics")
def test_the_documents_metrics_are_reports_metrics_json():
    stale = [_rel(path) for path in tables.stale(tables.figures.DEFAULT_DATA_BLOCKS)]
    assert not stale, (
        f"{', '.join(stale)}: metrics differ from reports/metrics.json: run `make bench-docs` "
        "and commit the result"
    )


def test_every_renderer_is_used_and_every_figure_is_marked():
    used = {name for path in DOCS for name in tables.OPENING.findall(path.read_text())}
    assert used == set(tables.BLOCKS), f"renderers no document uses: {set(tables.BLOCKS) - used}"


def test_a_figure_edited_by_hand_is_put_back():
    text = "before <!-- bench:service-cpu -->9.9 ms<!-- /bench:service-cpu --> after"
    cpu = tables.figures.service_cpu()
    assert tables.render(text, "x.md") == (
        f"before <!-- bench:service-cpu -->{cpu}<!-- /bench:service-cpu --> after"
    )
    table = "<!-- bench:monitor -->\n| old |\n<!-- /bench:monitor -->"
    assert tables.render(table, "x.md") == (
        f"<!-- bench:monitor -->\n\n{tables.figures.monitor_table()}\n\n<!-- /bench:monitor -->"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- bench:nope -->1<!-- /bench:nope -->", "x.md: no renderer for <!-- bench:nope -->"),
        ("<!-- bench:service-cpu -->1 ms", "x.md: 1 <!-- bench:NAME --> markers but 0 closed"),
    ],
)
def test_a_broken_marker_is_an_error_naming_the_file(text, message):
    with pytest.raises(tables.StaleSource, match=re.escape(message)):
        tables.render(text, "x.md")


def test_the_check_mode_says_which_target_to_run(tmp_path, monkeypatch, capsys):
    doc = tmp_path / "README.md"
    doc.write_text("<!-- bench:service-cpu -->9.9 ms<!-- /bench:service-cpu -->\n")
    monkeypatch.setattr(tables, "documents", lambda: [doc])
    assert tables.main(["--check"]) == 1
    assert "run `make bench-docs`" in capsys.readouterr().err
    assert doc.read_text() == "<!-- bench:service-cpu -->9.9 ms<!-- /bench:service-cpu -->\n"
    assert tables.main([]) == 0
    assert tables.figures.service_cpu() in doc.read_text()


# --- README: the front door ------------------------------------------------------------------


def test_the_readme_is_at_most_12_kb():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, (
        f"README.md is {size:,} bytes, over {README_LIMIT:,}: move the detail to docs/ and link it"
    )


def test_the_readme_leads_with_the_tour_then_adapting():
    sections = _h2(README)
    assert sections[:2] == ["The 60-second tour", "Adapt it to your own data"], sections
    assert sections[-1] != "Adapt it to your own data"


def test_the_readme_test_command_is_what_ci_runs():
    text = README.read_text()
    assert "make run    # set up, get the data, run the pipeline, print the metrics table" in text
    assert "make test   # set up, get the data, run every test (what CI runs: .ci/run)" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_secrets_are_listed_in_docs_secrets_md_only():
    table = (ROOT / "docs" / "secrets.md").read_text()
    names = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)", table, re.M))
    assert {"KUBECONFIG", "RETRAIN_TOKEN", "DVC_AWS_ROLE_ARN"} <= names
    in_readme = {name for name in names if name in README.read_text()}
    assert not in_readme, f"README.md names {in_readme}: link docs/secrets.md instead"


# --- links, paths, targets -------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_relative_links_and_anchors_resolve(doc):
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{_rel(doc)} links {target}: {path} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), (
                f"{_rel(doc)} links {target}: {_rel(file)} has no heading with that anchor"
            )


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_an_inline_figure_does_not_start_a_line(doc):
    """To Markdown a line that starts with `<!--` is raw HTML: the figure after the comment
    would show unrendered. Only a block's markers stand alone on their lines."""
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        text = line.strip().removeprefix("- ").strip()
        if text.startswith(("<!-- bench:", "<!-- /bench:")):
            assert re.fullmatch(r"<!-- /?bench:[\w-]+ -->", text), (
                f"{_rel(doc)}:{number}: an inline figure starts the line; put a word before it"
            )


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_the_paths_and_make_targets_named_exist(doc):
    text = doc.read_text()
    paths = re.findall(r"`((?:tests|src|benchmarks|docs|deploy|\.github|tools)/[\w./-]*)`", text)
    missing = sorted({path for path in paths if not (ROOT / path).exists()})
    assert not missing, f"{_rel(doc)} names {missing}, which do not exist"
    targets = set(re.findall(r"(?:`|^)make ([\w-]+)", text, re.M))
    assert targets <= _makefile_targets(), (
        f"{_rel(doc)}: no make target {targets - _makefile_targets()}"
    )


def test_docs_testing_md_names_every_test_folder():
    text = (ROOT / "docs" / "testing.md").read_text()
    for folder in (ROOT / "tests").iterdir():
        if folder.is_dir() and (folder / "__init__.py").exists():
            assert f"`tests/{folder.name}/`" in text, f"docs/testing.md: tests/{folder.name}/?"


def test_the_make_help_lists_bench_docs():
    assert re.search(r"^bench-docs: .*## ", (ROOT / "Makefile").read_text(), re.M)
