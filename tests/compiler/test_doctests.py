"""Each pass's docstring example is a test: the smallest OML in, the diagnostic out."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "compiler.loader",
    "compiler.passes.structure",
    "compiler.passes.references",
    "compiler.passes.params",
    "compiler.passes.components",
    "compiler.passes.graph",
    "compiler.passes.secrets",
    "compiler.passes.sql",
    "compiler.passes.optimize",
    "compiler.sql.engine",
    "compiler.sql.lexemes",
    "compiler.sql.safety",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
