"""Property tests: no input, however broken, makes the front end raise.

Every input comes back as diagnostics (or, when valid, none): arbitrary text,
arbitrary YAML documents, and mutations of the valid examples.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.compile import check, default_context
from compiler.diagnostics import CODES

CONTEXT = default_context()
EXAMPLES = [
    p.read_text("utf-8")
    for p in sorted((Path(__file__).parents[2] / "examples" / "pipelines").glob("*.yaml"))
]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_well_formed(source: str | bytes) -> None:
    program = check(source, CONTEXT)
    for diagnostic in program.diagnostics:
        assert diagnostic.code in CODES
        assert diagnostic.code != "INT900"
        assert diagnostic.line >= 0 and diagnostic.column >= 0


@FAST
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _assert_well_formed(text)


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _assert_well_formed(data)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(yaml_values)
def test_arbitrary_yaml_documents(value: object) -> None:
    _assert_well_formed(yaml.safe_dump(value))


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["oml_version", "name", "steps", "params", "profiles", "description"]),
        yaml_values,
    )
)
def test_arbitrary_top_level_shapes(document: dict[str, object]) -> None:
    _assert_well_formed(yaml.safe_dump(document))


def _mutate(text: str, ops: list[tuple[int, int, str]]) -> str:
    lines = text.splitlines(keepends=True)
    for kind, position, fragment in ops:
        if not lines:
            break
        index = position % len(lines)
        if kind == 0:
            del lines[index]
        elif kind == 1:
            lines.insert(index, lines[index])
        elif kind == 2:
            line = lines[index]
            cut = position % (len(line) or 1)
            lines[index] = line[:cut] + fragment + line[cut:]
        elif kind == 3:
            lines[index] = " " + lines[index]
        elif kind == 4:
            lines[index] = lines[index].lstrip()
        else:
            line = lines[index]
            cut = position % (len(line) or 1)
            lines[index] = line[:cut] + line[cut + 1 :]
    return "".join(lines)


mutations = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 10_000),
        st.sampled_from(
            [
                "$",
                "${",
                "}",
                "@",
                ":",
                "'",
                '"',
                "-",
                "[",
                "{",
                " ",
                "\t",
                "#",
                "é",
                "\x00",
                "params.",
                ".df",
            ]
        ),
    ),
    min_size=1,
    max_size=4,
)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=mutations)
def test_mutations_of_valid_pipelines(index: int, ops: list[tuple[int, int, str]]) -> None:
    _assert_well_formed(_mutate(EXAMPLES[index], ops))
