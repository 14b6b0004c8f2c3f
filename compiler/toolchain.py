"""The compiler a build was made by, as its `compiler_fp` names it: the Osiris version,
the grammar file and the passes in order.

Light on purpose: a run checks that its plan is current (`runtime/builds.py`
`Build.current`) before it moves a row, in a fresh worker process, and importing the
passes (sqlglot, the DuckDB binder) only to read their names cost that process 150 ms.
`PASS_NAMES` is therefore written out; a test keeps it equal to `compiler.passes.PASSES`.
"""

from __future__ import annotations

from functools import cache

from compiler import canonical
from compiler.version import __version__
from grammar import GRAMMAR_PATH

PASS_NAMES = (
    "structure",
    "references",
    "params",
    "components",
    "wiring",
    "graph",
    "secrets",
    "sql",
    "optimize",
)


@cache
def grammar_hash() -> str:
    """`sha256:<hex>` of the grammar file, read once per process."""
    return canonical.sha256(GRAMMAR_PATH.read_bytes())


@cache
def compiler_fingerprint() -> str:
    return canonical.fingerprint(
        {"osiris": __version__, "grammar": grammar_hash(), "passes": list(PASS_NAMES)}
    )
