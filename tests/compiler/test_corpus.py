"""Every invalid OML file in tests/corpus/invalid gives its documented first error, at its place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.compile import check, default_context

CORPUS = sorted((Path(__file__).parent.parent / "corpus" / "invalid").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (?P<code>[A-Z]{3}\d{3}) at (?P<line>\d+):(?P<column>\d+)$", re.M)
PROFILE = re.compile(r"^# profile: (?P<profile>\S+)$", re.M)


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_first_error(path: Path) -> None:
    text = path.read_text("utf-8")
    expect = EXPECT.search(text)
    assert expect, f"{path.name} has no '# expect: CODE at LINE:COL' header"
    assert path.stem.startswith(expect["code"]), "the file name starts with its code"
    profile = PROFILE.search(text)
    context = default_context(profile=profile["profile"] if profile else None)
    errors = [d for d in check(text, context, path.name).diagnostics if d.is_error]
    assert errors, "expected at least one error"
    first = errors[0]
    assert (first.code, first.line, first.column) == (
        expect["code"],
        int(expect["line"]),
        int(expect["column"]),
    ), first
    assert first.message and first.path is not None
