"""Projection pruning: when a transform names every column it uses (no `*`), its single
SQL extract stops selecting the others. Needs only the column names."""

from __future__ import annotations

import sqlglot.expressions as exp

from compiler.sql.rewrite import Extract, Rewrite, masked_form, masks_nothing, plain_column


def prune_projection(extract: Extract, transform: exp.Select, alias: str) -> Rewrite | None:
    """The extract's query selecting only the columns the transform can use; None when
    every column may be used or that is not fully known."""
    if extract.outputs is None:
        return None
    used = _used_names(transform, {alias.lower()})
    if used is None:
        return None
    keep = [name for name in extract.outputs if name.lower() in used] or extract.outputs[:1]
    if len(keep) == len(extract.outputs):
        return None
    tree = _apply_pruning(extract.tree, extract, keep)
    masked = tree if masks_nothing(extract) else _apply_pruning(masked_form(extract), extract, keep)
    if tree is None or masked is None:
        return None
    dropped = [name for name in extract.outputs if name not in keep]
    return Rewrite("projection_pruning", tree, masked, {"columns": keep, "dropped": dropped})


def _used_names(transform: exp.Select, tables: set[str]) -> set[str] | None:
    """Every name the transform could mean as a column of its input; None when that is
    not fully known (`*`, COLUMNS(), positional or whole-row references, USING)."""
    used: set[str] = set()
    for node in transform.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            return None
        if isinstance(node, (exp.PositionalColumn, exp.Columns)):
            return None
        if isinstance(node, exp.Join) and (node.args.get("using") or node.args.get("method")):
            return None
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                return None
            name = node.name.lower()
            if not node.table and name in tables:
                return None  # the whole row as a struct
            used.add(name)
            used.update(p.name.lower() for p in node.parts[:-1])
    return used


def _apply_pruning(tree: exp.Expr, extract: Extract, keep: list[str]) -> exp.Expr | None:
    select = tree.copy()
    if not isinstance(select, exp.Select) or select.args.get("distinct"):
        return None
    wanted = {name.lower() for name in keep}
    projections = select.expressions
    if len(projections) == 1 and isinstance(projections[0], exp.Star):
        select.set("expressions", [plain_column(name, extract.dialect) for name in keep])
        return select
    if any(_is_star(p) for p in projections):
        return None
    names = [p.alias_or_name.lower() for p in projections]
    if len(set(names)) != len(names) or any(not n for n in names):
        return None
    for clause in ("group", "order"):
        node = select.args.get(clause)
        if node is not None and any(
            isinstance(e.unalias() if not isinstance(e, exp.Ordered) else e.this, exp.Literal)
            for e in node.expressions
        ):
            return None  # GROUP BY 1 / ORDER BY 2 count projections
    referenced = _alias_references(select)
    kept = [p for p, n in zip(projections, names, strict=True) if n in wanted or n in referenced]
    if len(kept) == len(projections):
        return None
    select.set("expressions", kept)
    return select


def _is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (
        isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
    )


def _alias_references(select: exp.Select) -> set[str]:
    """Projection aliases the query itself uses elsewhere (ORDER BY total, HAVING n > 1)."""
    aliases = {p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias)}
    found: set[str] = set()
    for key in ("where", "group", "having", "order", "qualify"):
        node = select.args.get(key)
        if node is not None:
            found.update(
                c.name.lower()
                for c in node.find_all(exp.Column)
                if not c.table and c.name.lower() in aliases
            )
    return found
