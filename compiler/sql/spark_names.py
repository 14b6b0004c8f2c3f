"""Output names (SQL417): a column the query does not name — `count(*)` without `AS`, a
`VALUES` list or a table function without column names — is named one way by DuckDB
and another by Spark, and the steps after this one read it by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import sqlglot.expressions as exp

from compiler.sql.problem import Problem
from compiler.sql.safety import node_span
from compiler.sql.spark_nodes import call_span


def unnamed_outputs(tree: exp.Expr, sql: str) -> list[Problem]:
    """SQL417 for each output column DuckDB and Spark would name differently."""
    ctes = {cte.alias_or_name.lower(): cte.this for cte in tree.find_all(exp.CTE)}
    problems: list[Problem] = []
    _check_outputs(tree, ctes, problems, set(), sql)
    return [_as_written(p, sql) for p in problems]


def _as_written(problem: Problem, sql: str) -> Problem:
    """The problem's span widened to the whole expression, which its message quotes: to
    the parenthesis that closes a call, and over an `OVER (...)` or `FILTER (...)` after it."""
    if problem.span is None:
        return problem
    start, end = problem.span
    index = _balanced(sql, start, end)
    while True:
        clause = _CLAUSE.match(sql, index)
        if clause is None:
            break
        index = _balanced(sql, clause.end() - 1, clause.end()) if clause.group(1) else clause.end()
    shown = " ".join(sql[start:index].split())
    message = problem.message.replace("{}", shown)
    return Problem(problem.code, message, (start, index), problem.hint)


_CLAUSE = re.compile(r"\s*(?:(?:OVER|FILTER)\s*(\()|OVER\s+[A-Za-z_]\w*)", re.IGNORECASE)


def _balanced(sql: str, start: int, end: int) -> int:
    """The offset past `sql[start:end]` and every parenthesis it leaves open."""
    depth, quote, index = 0, "", start
    while index < len(sql) and (index < end or depth > 0):
        char = sql[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        index += 1
    return index


def _check_outputs(
    query: exp.Expr,
    ctes: Mapping[str, exp.Expr],
    problems: list[Problem],
    seen: set[int],
    sql: str,
) -> None:
    if id(query) in seen:
        return
    seen.add(id(query))
    while isinstance(query, (exp.SetOperation, exp.Subquery, exp.Paren)):
        query = query.this  # a set operation takes its names from its first SELECT
    if isinstance(query, exp.Values):
        problems.append(_unnamed("a VALUES list", query))
        return
    if not isinstance(query, exp.Select):
        return
    for column in query.expressions:
        if isinstance(column, (exp.Alias, exp.Column)):
            continue
        if isinstance(column, exp.Star):
            for source in _sources(query):
                _check_source(source, ctes, problems, seen, sql)
            continue
        whole, call = _whole(column), call_span(sql, column)
        if whole is not None and call is not None:
            whole = (min(whole[0], call[0]), max(whole[1], call[1]))
        problems.append(_unnamed("the column {}", whole or call))


def _sources(select: exp.Select) -> Iterator[exp.Expr]:
    from_ = select.args.get("from_")
    if isinstance(from_, exp.From):
        yield from_.this
    for join in select.args.get("joins") or ():
        yield join.this


def _check_source(
    source: exp.Expr,
    ctes: Mapping[str, exp.Expr],
    problems: list[Problem],
    seen: set[int],
    sql: str,
) -> None:
    alias = source.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return  # `AS t(a, b)` names every column
    if isinstance(source, exp.Subquery):
        _check_outputs(source.this, ctes, problems, seen, sql)
    elif isinstance(source, exp.Values):
        problems.append(_unnamed("a VALUES list", source))
    elif isinstance(source, exp.Table):
        if isinstance(source.this, exp.Identifier):
            cte = ctes.get(source.name.lower())
            if cte is not None:
                _check_outputs(cte, ctes, problems, seen, sql)
        elif not isinstance(source.this, exp.GenerateSeries):  # named as DuckDB names it
            problems.append(_unnamed("a table function's column", source))
    elif isinstance(source, (exp.Unnest, exp.Explode)):
        problems.append(_unnamed("a table function's column", source))


def _whole(node: exp.Expr) -> tuple[int, int] | None:
    """From the first to the last position sqlglot recorded inside `node`."""
    starts = [n.meta_get("start") for n in node.walk()]
    ends = [n.meta_get("end") for n in node.walk()]
    found = [s for s in starts if isinstance(s, int)], [e for e in ends if isinstance(e, int)]
    return (min(found[0]), max(found[1]) + 1) if found[0] and found[1] else None


def _unnamed(what: str, span: tuple[int, int] | exp.Expr | None) -> Problem:
    return Problem(
        "SQL417",
        f"{what} has no name: DuckDB and Spark would name it differently",
        node_span(span) if isinstance(span, exp.Expr) else span,
        "name it with AS (for a VALUES list or a table function: AS t(a, b))",
    )
