"""The compiler's passes, in the order they run. Reading `PASSES` tells the whole pipeline.

Each pass is `(program, context) -> program`: it adds diagnostics and fills in its part
of the program; later passes skip steps an earlier one found broken. `emit` is not a
pass here: it runs only when the checks found no error (compiler/emit.py).

`params` runs before `components` (DESIGN.md lists them the other way round) so that a
config value such as `limit: ${params.n}` is type-checked as the integer it will be.
`wiring` (each step's upstream tables) runs before `graph`, which orders by what it adds.
"""

from compiler.passes.components import components
from compiler.passes.graph import graph
from compiler.passes.optimize import optimize
from compiler.passes.params import params
from compiler.passes.references import references
from compiler.passes.secrets import secrets
from compiler.passes.sql import sql
from compiler.passes.structure import structure
from compiler.passes.wiring import wiring

PASSES = (structure, references, params, components, wiring, graph, secrets, sql, optimize)

__all__ = ["PASSES"]
