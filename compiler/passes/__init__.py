"""The compiler's passes, in the order they run. Reading `PASSES` tells the whole pipeline.

Each pass is `(program, context) -> program`: it adds diagnostics and fills in its part
of the program; later passes skip steps an earlier one found broken. `emit` is not a
pass here: it runs only when the checks found no error (compiler/emit.py).

`params` runs before `components` (DESIGN.md lists them the other way round) so that a
config value such as `limit: ${params.n}` is type-checked as the integer it will be.
`wiring` (each step's upstream tables) runs before `graph`, which orders by what it adds.

`ENGINE_PASSES` run after them, each only for a plan compiled for its engine (the
context's `engines`). They are not in `PASSES`, whose names `compiler_fp` hashes: a plan
compiled for DuckDB alone keeps its bytes, and the manifest names the engines instead.
"""

from compiler.passes.components import components
from compiler.passes.graph import graph
from compiler.passes.optimize import optimize
from compiler.passes.params import params
from compiler.passes.references import references
from compiler.passes.secrets import secrets
from compiler.passes.spark import spark
from compiler.passes.sql import sql
from compiler.passes.structure import structure
from compiler.passes.wiring import wiring

PASSES = (structure, references, params, components, wiring, graph, secrets, sql, optimize)
ENGINE_PASSES = {"spark": (spark,)}

__all__ = ["ENGINE_PASSES", "PASSES"]
