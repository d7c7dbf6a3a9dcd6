"""The repository stands alone: no file in it points outside it.

A public clone has nothing beside it. Team notes that once sat next to the checkout (a shared
folder with a reference directory and a handful of markdown notes) must not be read or cited by
anything in the tree: facts from them live in docs/gbcs-notes.md with their public sources, and
test data lives in tests/data/. The forbidden strings are built from parts so that this file
does not match itself and the test can still fail.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_DOT_MD = "." + "md"
# Paths to the old sibling folder.
OUTSIDE_PATHS = ["../" + "shared", "shared/" + "reference"]
# Documents that exist only outside the repository.
OUTSIDE_DOCUMENTS = [
    "gbcs" + _DOT_MD,
    "anchors" + _DOT_MD,
    "zigpy-mqtt" + _DOT_MD,
    "DESIGN" + _DOT_MD,
    "modification-" + "report",
]


def tree_files() -> list[Path]:
    """Every file git tracks, plus new files not ignored: what a commit would publish."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = [ROOT / name for name in listed.split("\0") if name]
    return [path for path in files if path.is_file()]


def forbidden_patterns(names_in_tree: set[str]) -> list[re.Pattern[str]]:
    patterns = [re.compile(re.escape(path)) for path in OUTSIDE_PATHS]
    for document in OUTSIDE_DOCUMENTS:
        if any(name.lower().startswith(document.lower()) for name in names_in_tree):
            continue  # the document is in the tree now, so citing it is fine
        # Not preceded by a letter, digit, '-' or '_', so "gbcs-notes" does not match "gbcs".
        patterns.append(re.compile(r"(?<![\w-])" + re.escape(document), re.IGNORECASE))
    return patterns


def offending_lines(text: str, patterns: list[re.Pattern[str]]) -> list[tuple[int, str]]:
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if any(pattern.search(line) for pattern in patterns)
    ]


def test_the_checks_catch_what_they_are_for() -> None:
    patterns = forbidden_patterns(set())
    for bad in [
        "see ../" + "shared/x",
        "Path(...) / 'shared/" + "reference/gbcs-examples.json'",
        "(gbcs" + ".md 5.2)",
        "reference/" + "anchors" + ".md section 4",
        "zigpy-mqtt" + ".md 3",
        "DESIGN" + ".md's profile",
        "`reference/modification-" + "report.txt`",
    ]:
        assert offending_lines(bad, patterns), bad
    for good in ["docs/gbcs-notes.md 5.2", "tests/data/gbcs-examples.json", "docs/design-notes"]:
        assert not offending_lines(good, patterns), good


def test_no_file_in_the_repository_refers_outside_it() -> None:
    files = tree_files()
    assert ROOT / "README.md" in files and Path(__file__) in files
    patterns = forbidden_patterns({path.name for path in files})
    found = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for number, line in offending_lines(text, patterns):
            found.append(f"{path.relative_to(ROOT)}:{number}: {line}")
    assert not found, "references outside the repository:\n" + "\n".join(found)


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize(
    "document", [p for p in tree_files() if p.suffix == ".md"], ids=lambda p: p.name
)
def test_markdown_links_resolve_inside_the_repository(document: Path) -> None:
    broken = []
    for target in MARKDOWN_LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)}: links that do not resolve: {broken}"
