"""What the optimize rules share: the extract being rewritten, and how a rule says what
it would change (a `Rewrite`), so that the pass alone records and commits rewrites."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlglot.expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel

from compiler.sql.canonical import mask_params


@dataclass
class Extract:
    """The extract side of a rewrite, as it stands before and after each step."""

    step: str
    dialect: str
    config: dict[str, Any]
    #: the query as bound, and (made when first needed) with params shown as `${params.x}`
    tree: exp.Expr
    masked: exp.Expr | None
    regions: list[tuple[int, int, str]]
    outputs: list[str] | None
    types: Mapping[str, str]
    from_table: bool
    #: the SQL the next rewrite starts from: the query as written, then each rewrite's result
    text: str = ""
    rewrites: list[dict[str, Any]] = field(default_factory=list)


class Rewrite(NamedTuple):
    """One rule's proposal: the new extract tree, its `${params.x}` form, what changed."""

    kind: str
    tree: exp.Expr
    masked: exp.Expr
    detail: dict[str, Any]


def masked_form(extract: Extract) -> exp.Expr:
    """The extract's query with params shown as `${params.x}`: the tree itself when the
    query has no params (rewrites never change a tree in place)."""
    if extract.masked is None:
        extract.masked = (
            mask_params(extract.tree, extract.regions) if extract.regions else extract.tree
        )
    return extract.masked


def masks_nothing(extract: Extract) -> bool:
    """The extract's canonical tree is its executed tree (no param shows in it)."""
    return (extract.masked is None and not extract.regions) or extract.masked is extract.tree


def projection_columns(select: exp.Expr, extract: Extract) -> dict[str, exp.Expr]:
    """Output name → the plain column it passes through (`*` over one table counts)."""
    mapping: dict[str, exp.Expr] = {}
    if not isinstance(select, exp.Select):
        return mapping
    for projection in select.expressions:
        inner = projection.unalias()
        if isinstance(inner, exp.Column) and not isinstance(inner.this, exp.Star):
            mapping.setdefault(projection.alias_or_name.lower(), inner)
    star = [p for p in select.expressions if isinstance(p, exp.Star)]
    if star and not select.args.get("joins") and extract.outputs is not None:
        for name in extract.outputs:
            mapping.setdefault(name.lower(), plain_column(name, extract.dialect))
    return mapping


def tables_of(tree: exp.Expr) -> tuple[str, ...]:
    names = {".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table)}
    return tuple(sorted(names))


def render(tree: exp.Expr, dialect: str) -> str:
    return tree.sql(dialect=dialect, unsupported_level=ErrorLevel.IGNORE)


# ---- identifiers ----------------------------------------------------------------------

PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifier(name: str, dialect: str) -> exp.Identifier:
    """A name as the source must see it: quoted when it is a keyword, has odd characters,
    or (PostgreSQL) has upper case that folding would lose."""
    keywords = Dialect.get_or_raise(dialect).tokenizer_class.KEYWORDS
    quoted = (
        not PLAIN.match(name)
        or name.upper() in keywords
        or (dialect == "postgres" and name != name.lower())
    )
    return exp.Identifier(this=name, quoted=quoted)


def plain_column(name: str, dialect: str) -> exp.Column:
    return exp.Column(this=identifier(name, dialect))


def strip_positions(node: exp.Expr) -> None:
    """Forget where nodes stood in the transform's text: they now live in another query."""
    for child in node.walk():
        if child.meta_get("start") is not None:
            for key in ("line", "col", "start", "end"):
                child.meta.pop(key, None)
