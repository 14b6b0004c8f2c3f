"""Fuzzing: mutations of valid OML through validate and compile never raise.

Every input gets diagnostics or a manifest. The long variant (10,000+ cases) is marked
`long`; `make test` runs it too, so CI does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.compile import default_context
from compiler.diagnostics import CODES
from compiler.emit import compile_source
from compiler.manifest import verify
from tests.compiler.test_properties import EXAMPLES, _mutate, mutations

CONTEXT = default_context()
ROOT = Path(__file__).resolve().parents[2]
CORPUS = [
    p.read_text("utf-8") for p in sorted((ROOT / "tests" / "corpus" / "invalid").glob("*.yaml"))
]
SOURCES = EXAMPLES + CORPUS[::4]


def _compile_never_raises(text: str) -> None:
    result = compile_source(text, CONTEXT)
    if result.ok:
        assert verify(result.files) == []
        assert result.manifest_hash and not [d for d in result.diagnostics if d.is_error]
    else:
        assert result.diagnostics, "a failed compile must say why"
        for diagnostic in result.diagnostics:
            assert diagnostic.code in CODES and diagnostic.code != "INT900", diagnostic


def _run(examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(source=st.sampled_from(SOURCES), ops=mutations)
    def check(source: str, ops: list[tuple[int, int, str]]) -> None:
        _compile_never_raises(_mutate(source, ops))

    check()


def test_mutations_through_compile() -> None:
    _run(300)


@pytest.mark.long
def test_mutations_through_compile_long() -> None:
    _run(10_000)


@pytest.mark.long
@settings(
    max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(
    st.text(
        alphabet=st.sampled_from(list("${}@.'\"()=<>!andortu_0123 \n-:[]#|")) | st.characters(),
        max_size=300,
    )
)
def test_arbitrary_text_through_compile(text: str) -> None:
    _compile_never_raises('oml_version: "0.1.0"\nname: fuzz\nsteps:\n' + text)
