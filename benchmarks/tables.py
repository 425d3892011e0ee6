"""Write every measured figure of README.md and docs/*.md from the file that holds it.

    make bench-docs                       (after a benchmark rewrote its JSON)
    python benchmarks/tables.py --check   (exit 1 when a document differs; no write)

Figures sit between markers, as a block (a table, a quoted excerpt) or inline in a sentence:

    <!-- bench:service -->
    | measure | BentoML service | ...
    <!-- /bench:service -->
    ... at <!-- bench:service-cpu -->0.8 ms<!-- /bench:service-cpu --> of CPU per request

What each block says, and from which file, is benchmarks/figures.py. A figure typed by hand
goes stale the day a benchmark is re-run; here the JSON is the one home and
tests/code/test_docs.py fails when a document and its source disagree.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from collections.abc import Collection
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _load_figures() -> ModuleType:
    """benchmarks/figures.py by its path: benchmarks/ is a folder of scripts, not a package,
    and putting it on sys.path would let its service.py or pipeline.py shadow other modules."""
    spec = importlib.util.spec_from_file_location(
        "bench_figures", Path(__file__).with_name("figures.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = _load_figures()
BLOCKS, StaleSource = figures.BLOCKS, figures.StaleSource
MARKER = re.compile(
    r"<!-- bench:(?P<name>[\w-]+) -->(?P<body>.*?)<!-- /bench:(?P=name) -->", re.DOTALL
)
OPENING = re.compile(r"<!-- bench:([\w-]+) -->")


def documents() -> list[Path]:
    """The files whose markers this script fills."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


# --- filling the documents -------------------------------------------------------------------


def render(text: str, where: str, blocks: Collection[str] = BLOCKS.keys()) -> str:
    """``text`` with its marked ``blocks`` re-rendered (the others left as they are); a block
    of several lines stands apart from its markers by a blank line."""
    filled = 0

    def fill(match: re.Match[str]) -> str:
        nonlocal filled
        name = match["name"]
        if name not in BLOCKS:
            raise StaleSource(
                f"{where}: no renderer for <!-- bench:{name} -->; known: {', '.join(BLOCKS)}"
            )
        filled += 1
        if name not in blocks:
            return match.group(0)
        try:
            body = BLOCKS[name]()
        except (KeyError, StopIteration, ValueError) as exc:
            raise StaleSource(
                f"{where}: block {name}: its source lacks {exc}: re-run the benchmark that "
                "writes it, or fix the block's renderer in benchmarks/tables.py"
            ) from exc
        body = f"\n\n{body}\n\n" if "\n" in body else body
        return f"<!-- bench:{name} -->{body}<!-- /bench:{name} -->"

    result = MARKER.sub(fill, text)
    opened = OPENING.findall(text)
    if filled != len(opened):
        raise StaleSource(
            f"{where}: {len(opened)} <!-- bench:NAME --> markers but {filled} closed by "
            "<!-- /bench:NAME -->: close each block with the same name"
        )
    return result


def stale(blocks: Collection[str] = BLOCKS.keys()) -> dict[Path, str]:
    """The documents whose ``blocks`` differ from their sources, with the text they should
    have."""
    out = {}
    for path in documents():
        text = path.read_text()
        new = render(text, _shown(path), blocks)
        if new != text:
            out[path] = new
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        changed = stale()
    except StaleSource as exc:
        print(f"error in `bench-docs`: {exc}", file=sys.stderr)
        return 1
    for path, text in changed.items():
        if args.check:
            print(f"{_shown(path)}: figures differ from their sources", file=sys.stderr)
        else:
            path.write_text(text)
            print(f"bench-docs: wrote {_shown(path)}")
    if args.check and changed:
        print("run `make bench-docs` and commit the result", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
