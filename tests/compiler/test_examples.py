"""The shipped example pipelines are valid, with every profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compiler.compile import check, default_context

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "pipelines").glob("*.yaml"))


def test_the_promised_examples_exist() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"quickstart", "mysql_to_postgres", "params_and_profiles"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_valid(path: Path) -> None:
    profiles = [None, *(yaml.safe_load(path.read_text()).get("profiles") or {})]
    for profile in profiles:
        program = check(path.read_bytes(), default_context(profile=profile), path.name)
        assert program.diagnostics == [], (profile, program.diagnostics)
