"""Operators split by white space that sqlglot's parser joins into one.

sqlglot tokenizes `>>` as two `>` tokens (so that `ARRAY<ARRAY<INT>>` closes twice) and
its parser reads any `>` `>` pair as a right shift, spaces or not. MySQL, PostgreSQL and
DuckDB lex `> >` as two operators: a syntax error there. The SQL Osiris sends is sqlglot's
rendering of the tree, so without this check `WHERE amount > > 10` would compile and run
as `amount >> 10`.

The check compares the server's lexemes (runs of operator characters with nothing between
them) of the original and of the rendering: a multi-character operator that appears more
often in the rendering, where the original wrote its characters apart, is a change of
meaning.

>>> from sqlglot.dialects.dialect import Dialect
>>> text = "SELECT a FROM t WHERE a > > 10"
>>> mysql = Dialect.get_or_raise("mysql")
>>> split_operator(text, mysql.tokenize(text), "SELECT a FROM t WHERE a >> 10", mysql)
Problem(code='SQL400', message="SQL syntax error: '> >' is two operators; the server refuses it", \
span=(24, 27), hint="write one operator ('>' or '>=')", suggestions=())
>>> split_operator("SELECT a >> 2", mysql.tokenize("SELECT a >> 2"), "SELECT a >> 2", mysql) is None
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import Token

from compiler.sql.problem import Problem

#: Characters that make up operators in the SQL dialects Osiris reads.
_OPERATOR_CHARS = frozenset("<>=!|&^~+-*/%:#@?")


def _is_operator(token: Token) -> bool:
    return bool(token.text) and all(c in _OPERATOR_CHARS for c in token.text)


def _lexemes(tokens: Sequence[Token]) -> Counter[str]:
    """Multi-character operators as a server lexes them: adjacent operator tokens joined."""
    found: Counter[str] = Counter()
    run = ""
    previous: Token | None = None
    for token in tokens:
        if _is_operator(token):
            joined = previous is not None and run and previous.end + 1 == token.start
            run = run + token.text if joined else token.text
        else:
            if len(run) > 1:
                found[run] += 1
            run = ""
        previous = token
    if len(run) > 1:
        found[run] += 1
    return found


def split_operator(
    text: str, tokens: Sequence[Token], rendered: str, dialect: Dialect
) -> Problem | None:
    """The first operator pair written apart in `text` that `rendered` writes as one."""
    try:
        after = _lexemes(dialect.tokenize(rendered))
    except Exception:  # a rendering sqlglot cannot read back is caught by the engine check
        return None
    before = _lexemes(tokens)
    grown = {lexeme for lexeme, count in after.items() if count > before[lexeme]}
    for left, right in pairwise(tokens):
        if not (_is_operator(left) and _is_operator(right)):
            continue
        between = text[left.end + 1 : right.start]
        if between and between.isspace() and left.text + right.text in grown:
            pair = f"{left.text} {right.text}"
            return Problem(
                "SQL400",
                f"SQL syntax error: {pair!r} is two operators; the server refuses it",
                (left.start, right.end + 1),
                hint=f"write one operator ({left.text!r} or {left.text + '='!r})"
                if left.text in "<>"
                else "remove the repeated operator",
            )
    return None
