"""Osiris gives every file of the 0.5.7 compatibility corpus the verdict its header states.

The files run through `osiris validate --json` exactly as a user runs it, with the corpus
folder as the project (its osiris_connections.yaml is what connection references resolve
against); a valid file must also compile.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from compiler.compile import default_context
from compiler.emit import compile_source
from osiris_mcp.cli import main
from runtime.app import filesystem_bases
from tests.compat.corpus import COMPAT, PIPELINES, REFERENCE_VERDICTS, Expectation, corpus
from tests.compat.pending import PENDING

CORPUS = corpus()
#: every fake secret in the corpus carries one of these; no diagnostic may repeat it
CANARIES = ("corpus-not-a-real", "corpus_not_a_real")


def _param(expectation: Expectation) -> Any:
    reason = PENDING.get(expectation.name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(expectation, id=expectation.name, marks=marks)


@pytest.fixture(scope="module")
def verdicts() -> dict[str, dict[str, Any]]:
    """`osiris validate --json` over the whole corpus in one call, by file stem."""
    files = [str(e.path) for e in CORPUS]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(["validate", "--json", "--project", str(COMPAT), "--catalog", "off", *files])
    results = json.loads(out.getvalue())
    return {PIPELINES.joinpath(r["file"]).stem: r for r in results}


def test_corpus_covers_enough_and_both_verdicts() -> None:
    assert len(CORPUS) >= 60
    assert sum(e.valid for e in CORPUS) >= 25
    assert sum(not e.valid for e in CORPUS) >= 25


def test_pending_names_only_corpus_files_and_examples() -> None:
    examples = {p.stem for p in (COMPAT.parents[2] / "examples" / "pipelines").glob("*.yaml")}
    assert set(PENDING) <= {e.name for e in CORPUS} | examples


def test_every_file_has_a_stored_reference_verdict() -> None:
    """bench/compat.py records 0.5.7's verdicts; a new corpus file needs a re-run of it."""
    stored = json.loads(REFERENCE_VERDICTS.read_text("utf-8"))["verdicts"]
    assert sorted(stored) == sorted(e.name for e in CORPUS)


@pytest.mark.parametrize("expectation", [_param(e) for e in CORPUS])
def test_verdict(expectation: Expectation, verdicts: dict[str, dict[str, Any]]) -> None:
    result = verdicts[expectation.name]
    diagnostics = result["diagnostics"]
    errors = {d["code"] for d in diagnostics if d["severity"] == "error"}
    warnings = [d for d in diagnostics if d["severity"] == "warning"]
    shown = [f"{d['severity']}[{d['code']}] {d['line']}:{d['column']} {d['message']}"
             for d in diagnostics]  # fmt: skip
    assert result["valid"] is expectation.valid, shown
    assert set(expectation.errors) <= errors, shown
    assert set(expectation.warnings) <= {d["code"] for d in warnings}, shown
    if expectation.warning_text:
        assert any(
            expectation.warning_text in f"{d['message']} {d.get('hint') or ''}" for d in warnings
        ), shown
    for diagnostic in diagnostics:  # every diagnostic points into the file
        assert diagnostic["line"] >= 1 and diagnostic["column"] >= 1, diagnostic
    assert not any(canary in json.dumps(diagnostics) for canary in CANARIES)
    if expectation.valid:
        context = default_context(filesystem_bases=filesystem_bases(COMPAT))
        built = compile_source(expectation.path.read_bytes(), context, expectation.name)
        assert built.ok, built.diagnostics
