"""Canonical SQL: the text that is hashed and sent, independent of layout and case."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

import sqlglot.expressions as exp
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from compiler.sql.safety import check_sql

if TYPE_CHECKING:
    pass


# ---- canonical SQL --------------------------------------------------------------------


def mask_params(tree: exp.Expr, regions: Iterable[tuple[int, int, str]]) -> exp.Expr:
    """A copy of `tree` where a literal or name that came from a param reads `${params.x}`.

    `regions` are (start, end, reference) in the bound text the tree was parsed from.
    """
    copy = tree.copy()
    spans = list(regions)
    if not spans:
        return copy
    for node in list(copy.walk()):
        if not isinstance(node, (exp.Literal, exp.Identifier)):
            continue
        start, end = node.meta_get("start"), node.meta_get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        hits = [r for r in spans if r[0] <= end and start < r[1]]
        if not hits:
            continue
        marker = "".join(h[2] for h in hits)
        if isinstance(node, exp.Literal):
            replaced = node.replace(exp.Var(this=f"'{marker}'" if node.is_string else marker))
            if node is copy:
                copy = replaced
        else:
            node.set("this", marker)
    return copy


def render_canonical(tree: exp.Expr, dialect: str, *, copy: bool = True) -> str:
    """sqlglot's normalized rendering: no comments, one spacing, upper-case keywords,
    identifiers folded as the dialect folds them and always quoted."""
    normalized = normalize_identifiers(tree.copy() if copy else tree, dialect=dialect)
    return normalized.sql(
        dialect=dialect,
        identify=True,
        pretty=False,
        comments=False,
        unsupported_level=ErrorLevel.IGNORE,
    )


def canonical_sql(
    tree: exp.Expr, dialect: str, regions: Iterable[tuple[int, int, str]] = ()
) -> str:
    """The canonical text of a query: whitespace, comments, keyword case and quoting do not
    change it, a changed literal does; a param shows as `${params.x}`, not its value."""
    return render_canonical(mask_params(tree, regions), dialect, copy=False)


@lru_cache(maxsize=2048)
def canonical_text(
    text: str,
    dialect: str,
    role: str,
    regions: tuple[tuple[int, int, str], ...],
    trusted: frozenset[str] = frozenset(),
) -> str:
    tree = check_sql(text, dialect, role, trusted).tree
    return canonical_sql(tree, dialect, regions) if tree is not None else ""
