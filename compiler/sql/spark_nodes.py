"""What the Spark translation reads off a sqlglot node: where the DuckDB query writes
it, the function it calls, the number a literal holds; and the refusal (SQL415) it
reports at such a place.
"""

from __future__ import annotations

import re

import sqlglot.expressions as exp

from compiler.sql.problem import Problem
from compiler.sql.safety import node_span

NO_EQUIVALENT = "Spark SQL has no equivalent"
HINT = "write it with functions both engines share (docs/oml.md, Compiling for Spark)"


def refused(what: str, span: tuple[int, int] | None, hint: str = HINT) -> Problem:
    """SQL415 at `span`: Spark SQL cannot say what the DuckDB query says there."""
    return Problem("SQL415", what, span, hint)


_CALL = re.compile(r"([A-Za-z_]\w*)\s*\(\s*$")


def call_span(sql: str, node: exp.Expr) -> tuple[int, int] | None:
    """Where `node` is written: sqlglot keeps no position for the name of a function it
    parses into its own type (`arg_max`, `quantile_cont`, `CAST`), so the name is looked
    for just before the first argument, and kept only if the call closes right after the
    last one (a CAST's `AS type` aside)."""
    found = node_span(node)
    if found is None or not isinstance(node, exp.Func) or isinstance(node.meta_get("start"), int):
        return found
    call = _CALL.search(sql, 0, found[0])
    if call is None:
        return found
    if isinstance(node, (exp.Cast, exp.TryCast)):
        if call.group(1).lower() not in ("cast", "try_cast"):
            return found
        close = sql.find(")", found[1])
        return (call.start(1), close + 1 if close >= 0 else found[1])
    closing = re.compile(r"[\s\]}]*\)").match(sql, found[1])  # a list's `]` may end it
    if closing is None:
        return found
    return (call.start(1), closing.end())


def function_name(node: exp.Expr) -> str:
    """A function's lower-case name as sqlglot leaves an unknown one, else its kind."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.key


def is_text(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def literal_number(node: exp.Expr | None) -> float | None:
    """The value of a numeric literal (`-2` too), else None."""
    if isinstance(node, exp.Neg):
        inner = literal_number(node.this)
        return -inner if inner is not None else None
    if isinstance(node, exp.Paren):
        return literal_number(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def number_literal(value: int) -> exp.Expr:
    return exp.Literal.number(value)
