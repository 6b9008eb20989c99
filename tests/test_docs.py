"""The design notes the code cites exist in the repository, with the sections they name.

Docstrings and comments under ``pipeline/``, ``stages/``, ``scripts/``, ``benchmarks/``
and ``tests/`` cite notes as ``docs/<name>.md``, optionally followed by a quoted section
(``docs/design.md, "MLflow"``); an upper-case note name (the planning documents' style)
counts too. A cited file must exist inside the repository, and a quoted section must be a
heading of it. The notes' own links to each other (``[methods.md](methods.md), "DICL"``)
are held to the same rules.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("pipeline", "stages", "scripts", "benchmarks", "tests")
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".sh", ".txt", ".cfg"}

# A note: a path ending in docs/<name>.md, or in an upper-case name such as the README's;
# then, optionally, `, "Section"` or ` section "Section"`.
CITATION = re.compile(
    r"(?<![\w./-])(?P<path>(?:[\w.-]+/)*(?:docs/[\w.-]+|[A-Z][A-Z0-9_]+)\.md)\b"
    r'(?:,?\s+(?:section\s+)?"(?P<section>[^"]+)")?'
)
# A link between notes: [text](name.md), then optionally `, "Section"`.
NOTE_LINK = re.compile(r'\]\((?P<path>[\w.-]+\.md)\)(?:,?\s+"(?P<section>[^"]+)")?')
# Python 3.12 splits f-strings into pieces; their text is in FSTRING_MIDDLE.
STRING_TOKENS = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def python_texts(source: str) -> Iterator[str]:
    """Each string, and each run of consecutive comment lines, of Python source."""
    comments: list[str] = []
    last_line = -2
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            if token.start[0] != last_line + 1 and comments:
                yield _collapse(" ".join(comments))
                comments = []
            comments.append(token.string.lstrip("#"))
            last_line = token.start[0]
        elif token.type in STRING_TOKENS:
            yield _collapse(token.string)
    if comments:
        yield _collapse(" ".join(comments))


def file_texts(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        yield from python_texts(text)
    else:  # comments of YAML, TOML, shell: lines lose their leading '#'
        yield _collapse(" ".join(line.strip().lstrip("#") for line in text.splitlines()))


def citations(text: str) -> list[tuple[str, str | None]]:
    """``(path, section or None)`` of every note cited in ``text``."""
    return [(m["path"], m["section"]) for m in CITATION.finditer(text)]


def headings(path: Path) -> set[str]:
    """The headings of a Markdown file, outside fenced code blocks."""
    found, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            found.add(match["title"])
    return found


def problems(cited: list[tuple[str, str | None]], base: Path) -> list[str]:
    """What is wrong with each citation, resolved against ``base``."""
    found = []
    for rel, section in cited:
        path = (base / rel).resolve()
        if not path.is_relative_to(REPO) or not path.is_file():
            found.append(f"{rel}: not a file in the repository")
        elif section is not None and section not in headings(path):
            found.append(f'{rel}: no heading "{section}" (headings: {sorted(headings(path))})')
    return found


def _scanned_files() -> list[Path]:
    return sorted(
        path
        for folder in SCANNED
        for path in (REPO / folder).rglob("*")
        if path.suffix in TEXT_SUFFIXES and path.is_file() and "__pycache__" not in path.parts
    )


def _citing_files() -> dict[str, list[tuple[str, str | None]]]:
    cited = {}
    for path in _scanned_files():
        found = [c for text in file_texts(path) for c in citations(text)]
        if found:
            cited[path.relative_to(REPO).as_posix()] = found
    return cited


CITING = _citing_files()


@pytest.mark.parametrize("source", sorted(CITING))
def test_cited_notes_and_sections_exist(source):
    wrong = problems(CITING[source], REPO)
    assert not wrong, f"{source} cites:\n  " + "\n  ".join(wrong)


def test_the_code_cites_the_notes():
    cited = {path for found in CITING.values() for path, _ in found}
    notes = {f"docs/{name}.md" for name in ("design", "datasets", "methods", "style")}
    assert notes <= cited
    sections = sum(section is not None for found in CITING.values() for _, section in found)
    assert sections >= 30


@pytest.mark.parametrize("note", sorted(p.name for p in (REPO / "docs").glob("*.md")))
def test_links_between_notes_resolve(note):
    text = _collapse((REPO / "docs" / note).read_text(encoding="utf-8"))
    cited = [(m["path"], m["section"]) for m in NOTE_LINK.finditer(text)]
    wrong = problems(cited, REPO / "docs")
    assert not wrong, f"docs/{note} links to:\n  " + "\n  ".join(wrong)


# The reader itself. Names are assembled so that this file cites nothing it does not mean.
DOC = "docs/" + "design.md"


def test_citations_are_read_with_their_sections():
    text = _collapse(f'see {DOC}, "The DAG" and {DOC},\n   "Scale"; {DOC} section "MLflow".')
    assert citations(text) == [(DOC, "The DAG"), (DOC, "Scale"), (DOC, "MLflow")]
    plan = "PLAN" + ".md"
    assert citations(f"({plan}) and ../shared/{plan}, out/summary.md") == [
        (plan, None),
        ("../shared/" + plan, None),
    ]


def test_comment_runs_are_joined_and_strings_kept():
    source = f'x = 1  # the rule ({DOC},\n# "Contracts")\n\n# apart\ny = "{DOC}"\n'
    texts = list(python_texts(source))
    assert f'the rule ({DOC}, "Contracts")' in texts
    assert f'"{DOC}"' in texts and "apart" in texts


def test_missing_files_sections_and_paths_outside_are_reported(tmp_path):
    assert problems([(DOC, "Layout")], REPO) == []
    missing = problems([("docs/" + "nope.md", None), (DOC, "No such heading")], REPO)
    assert missing[0].endswith("not a file in the repository")
    assert 'no heading "No such heading"' in missing[1]
    note = tmp_path / ("NOTE" + ".md")
    note.write_text("# Note\n", encoding="utf-8")
    outside = os.path.relpath(note, REPO)  # exists, but not in the repository
    assert problems([(outside, "Note")], REPO) == [f"{outside}: not a file in the repository"]
