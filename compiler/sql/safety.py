"""Parsing and the safety checks: one statement, read-only, only allowed functions.

Pure functions of the SQL text, cached: `check_sql` parses once with sqlglot and runs the
token and tree checks for a role (`extract`, `transform`); it fails closed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import sqlglot.expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from compiler.diagnostics import did_you_mean
from compiler.sql.lexemes import split_operator
from compiler.sql.policy import (
    FILE_NAME,
    QUERY_START,
    ROOTS,
    SECOND_WORD,
    allowed_kind,
    fold_name,
    forbidden_function,
    unknown_function,
)
from compiler.sql.problem import Problem

if TYPE_CHECKING:
    pass


# ---- parsing and the safety checks (pure, cached) -------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    """One SQL text after parsing and the safety checks. `tree` is shared: copy to change."""

    #: the parsed statement (also when a check failed), None when it did not parse
    parsed: exp.Expr | None
    problems: tuple[Problem, ...]

    @property
    def tree(self) -> exp.Expr | None:
        """The statement, only when it passed every check."""
        return None if self.problems else self.parsed


@lru_cache(maxsize=2048)
def check_sql(text: str, dialect: str, role: str, trusted: frozenset[str] = frozenset()) -> Checked:
    """Parse `text` once and run the role's safety checks; cached by (text, dialect, role).

    Fails closed: SQL that cannot be parsed and checked is refused, never waved through.
    """
    try:
        return _check_sql(text, dialect, role, trusted)
    except RecursionError:
        problem = Problem(
            "SQL400",
            "SQL nested too deeply to check",
            hint="use fewer nested parentheses or subqueries",
        )
    except Exception as err:  # a sqlglot bug must refuse the SQL, not crash the compiler
        problem = Problem(
            "INT900",
            f"the SQL could not be checked ({type(err).__name__})",
            hint="this is a bug in Osiris: please report it",
        )
    return Checked(None, (problem,))


def _check_sql(text: str, dialect: str, role: str, trusted: frozenset[str]) -> Checked:
    # Checked last, so a refusal the checks can name (a second statement, a function)
    # keeps its own code; whatever passed them is refused if its characters are suspect.
    hazard = lexical_hazard(text)
    checked = _check_sql_tokens(text, dialect, role, trusted)
    if hazard is not None and not checked.problems:
        return Checked(checked.parsed, (hazard,))
    return checked


def _check_sql_tokens(text: str, dialect: str, role: str, trusted: frozenset[str]) -> Checked:
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except TokenError as err:
        return Checked(None, (_token_error(err, text),))
    problem = _check_tokens(tokens, text, dialect)
    if problem is not None:
        return Checked(None, (problem,))
    try:
        parsed = Dialect.get_or_raise(dialect).parser().parse(tokens, text)
    except ParseError as err:
        # sqlglot does not parse MySQL's INTO OUTFILE: say what it is, not "syntax error"
        return Checked(None, (_into_outfile(tokens) or _parse_error(err, text),))
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if len(statements) != 1:
        return Checked(None, (Problem("SQL401", "exactly one SQL statement expected"),))
    tree = statements[0]
    problems = _check_tree(tree, _Source(text, tokens, dialect, role, trusted))
    if not problems:
        rendered = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.IGNORE)
        split = split_operator(text, tokens, rendered, Dialect.get_or_raise(dialect))
        problems = [split] if split is not None else []
    return Checked(tree, tuple(problems))


#: Characters where the checker's reading and the server's may part: whitespace other than
#: space, tab, line feed and CR LF (sqlglot takes `--` + U+00A0 for a comment, MariaDB for
#: code), a lone CR, control and invisible format characters. Refused anywhere in the
#: text, strings included: one linear scan, and no lexer's corner case left to trust.
_LEXICAL_HAZARD = re.compile(
    "[^\\S \t\n\r]|\r(?!\n)|[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


def lexical_hazard(text: str) -> Problem | None:
    r"""The first character the database might read otherwise than sqlglot did, if any.

    >>> lexical_hazard("SELECT 1 --\u00a0LOAD_FILE('/etc/passwd')").message[:50]
    'U+00A0 (NO-BREAK SPACE) is not allowed in SQL: the'

    >>> lexical_hazard("SELECT 1 -- a comment\r\n") is None
    True
    """
    found = _LEXICAL_HAZARD.search(text)
    if found is None:
        return None
    char = found.group()
    name = unicodedata.name(char, "a control character")
    return Problem(
        "SQL410",
        f"U+{ord(char):04X} ({name}) is not allowed in SQL: the database may read the text "
        "around it differently than the checks did",
        (found.start(), found.end()),
        hint="use plain spaces and line breaks; write such a character inside a value as "
        "CHAR(n) (MySQL) or chr(n) (PostgreSQL, DuckDB)",
    )


#: Token types one param value may become in SQL: a literal, or a plain name.
_VALUE_TOKENS = frozenset(
    {TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.NUMBER, TokenType.VAR,
     TokenType.IDENTIFIER, TokenType.TRUE, TokenType.FALSE, TokenType.NULL}
)  # fmt: skip


def check_param_values(
    text: str, dialect: str, regions: Iterable[tuple[int, int, str]]
) -> list[Problem]:
    """Every param value inside SQL is exactly one value: part of a single string, number
    or name token, never SQL text of its own (a quote, a comment, another clause).

    Params reach SQL by substitution, so this is what makes the value data: the tree the
    checks passed holds each value as one literal, and the server's lexer reads the same
    one (lexical_hazard refuses the characters where the two could differ).

    >>> [p.message for p in check_param_values("SELECT 1 WHERE d > 'x' OR '1'='1'", "mysql",
    ...                                        [(20, 32, "${params.since}")])]
    ["${params.since} must be one SQL value, but its value is SQL text: x' OR '1'='1"]
    """
    spans = [r for r in regions if r[1] > r[0]]
    if not spans:
        return []
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except TokenError:
        return []  # the syntax error is reported already
    problems: list[Problem] = []
    for start, end, reference in spans:
        inside = [t for t in tokens if t.start < end and start <= t.end]
        single = len(inside) == 1 and inside[0].token_type in _VALUE_TOKENS
        if single and inside[0].token_type in (TokenType.STRING, TokenType.NATIONAL_STRING):
            single = inside[0].start < start and end <= inside[0].end  # inside the quotes
        if single:
            continue
        shown = text[start:end]
        problems.append(
            Problem(
                "SQL411",
                f"{reference} must be one SQL value, but its value is SQL text: {shown[:40]}",
                (start, end),
                hint=f"pass a plain value: a param is one string ('{reference}'), number or "
                "name in a query, never SQL of its own",
            )
        )
    return problems


def _token_error(err: TokenError, text: str) -> Problem:
    # The tokenizer's own message ("Missing ' from 1:17") carries the token's offset.
    cause = str(err.__cause__ or err)
    found = re.search(r"from \d+:(\d+)", cause)
    start = int(found.group(1)) if found else (err.start or 0)
    start = min(start, max(len(text) - 1, 0))
    what = "unterminated string or quoted name" if "Missing" in cause else "unreadable SQL"
    return Problem("SQL400", f"SQL syntax error: {what}", (start, start + 1))


def _parse_error(err: ParseError, text: str) -> Problem:
    info = err.errors[0] if err.errors else {}
    line, col = info.get("line"), info.get("col")
    description = str(info.get("description") or "invalid SQL").split(". Line")[0]
    if "Required keyword" in description:
        description = "incomplete clause"
    elif description.startswith("Invalid expression / Unexpected token"):
        description = "unexpected token"
    highlight = str(info.get("highlight") or "")
    span: tuple[int, int] | None = None
    if isinstance(line, int) and isinstance(col, int):
        # sqlglot gives the 1-based line and the column of the token's last character
        lines = text.split("\n")
        base = sum(len(part) + 1 for part in lines[: line - 1])
        end = min(base + col, len(text))
        span = (max(end - max(len(highlight), 1), 0), max(end, 1))
    near = f" near {highlight!r}" if highlight else ""
    return Problem("SQL400", f"SQL syntax error: {description}{near}", span)


def _check_tokens(tokens: list[Token], text: str, dialect: str) -> Problem | None:
    """What the token stream alone shows: stacked statements, executable comments, INTO."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [s for s in statements if s]
    if not statements:
        return Problem("SQL400", "no SQL statement", None, hint="write one SELECT")
    if len(statements) > 1:
        second = statements[1][0]
        return Problem(
            "SQL401",
            f"more than one SQL statement: a second one starts with {second.text!r}",
            (second.start, second.end + 1),
            hint="write exactly one SELECT; remove the ';' and what follows",
        )
    if dialect == "postgres":
        escaped = _unicode_identifier(tokens)
        if escaped is not None:
            return Problem(
                "SQL404",
                'a Unicode-escaped name U&"..." is not allowed: it can spell any name, '
                "a forbidden function's included",
                escaped,
                hint="write the name plainly, its characters as they are",
            )
    if dialect == "mysql":
        for token in tokens:
            if any(c.startswith(("!", "M!")) for c in token.comments):
                start = _comment_start(text, tokens)
                return Problem(
                    "SQL404",
                    "MySQL executable comment '/*! ... */' is not allowed: "
                    "the server runs its content as SQL",
                    (start, start + 3) if start is not None else None,
                    hint="remove the comment",
                )
    first = statements[0][0]
    if first.token_type not in QUERY_START:
        word = first.text.upper()
        following = statements[0][1].text.upper() if len(statements[0]) > 1 else ""
        if following in SECOND_WORD:
            word = f"{word} {following}"
        return _not_read_only(word, (first.start, first.end + 1))
    return None


def _not_read_only(word: str, span: tuple[int, int] | None) -> Problem:
    """SQL402 for a statement that starts with `word`: the token and the tree check agree."""
    return Problem(
        "SQL402",
        f"{word} is not a read-only query: only one SELECT is allowed",
        span,
        hint="write a SELECT (WITH ... SELECT, UNION and VALUES are fine)",
    )


def _unicode_identifier(tokens: list[Token]) -> tuple[int, int] | None:
    """Where a PostgreSQL `U&"..."` name starts: sqlglot reads it as `U & "..."`, while the
    server decodes its escapes (`U&"pg\\005fsleep"` is pg_sleep)."""
    for first, amp, name in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            first.text.upper() == "U"
            and amp.token_type == TokenType.AMP
            and name.token_type == TokenType.IDENTIFIER
            and amp.start == first.end + 1
            and name.start == amp.end + 1
        ):
            return (first.start, name.end + 1)
    return None


def _into_outfile(tokens: list[Token]) -> Problem | None:
    for index, token in enumerate(tokens[:-1]):
        target = tokens[index + 1].text.upper()
        if token.token_type == TokenType.INTO and target in ("OUTFILE", "DUMPFILE"):
            return Problem(
                "SQL404",
                f"SELECT ... INTO {target} writes a file on the database server: not allowed",
                (token.start, tokens[index + 1].end + 1),
                hint="remove the INTO clause: the step's output is the query's result",
            )
    return None


def _comment_start(text: str, tokens: list[Token]) -> int | None:
    """Where the first `/*!` outside a string literal starts."""
    strings = [
        (t.start, t.end) for t in tokens if t.token_type in (TokenType.STRING, TokenType.IDENTIFIER)
    ]
    for found in re.finditer(r"/\*M?!", text):
        if not any(start <= found.start() <= end for start, end in strings):
            return found.start()
    return None


@dataclass(frozen=True, slots=True)
class _Source:
    """The SQL text a tree came from, with what the checks need to know about it."""

    text: str
    tokens: list[Token]
    dialect: str
    role: str
    #: function names the pipeline vouches for (`trusted_functions`), folded
    trusted: frozenset[str] = frozenset()


def _check_tree(tree: exp.Expr, source: _Source) -> list[Problem]:
    """The allow-list over the whole tree, and the function deny-list."""
    if not isinstance(tree, ROOTS) or (
        isinstance(tree, exp.Subquery) and not isinstance(tree.unnest(), ROOTS)
    ):
        word = str(tree.this if isinstance(tree, exp.Command) else tree.key).upper()
        first = next((t for t in source.tokens if t.text.upper() == word), None)
        span = (first.start, first.end + 1) if first is not None else node_span(tree)
        return [_not_read_only(word, span)]
    problems: list[Problem] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        problem = _check_node(node, source)
        if problem is not None:
            problems.append(problem)
            continue  # one finding per construct, not one per node inside it
        stack.extend(reversed(list(node.iter_expressions())))
    return problems


def _check_node(node: exp.Expr, source: _Source) -> Problem | None:
    text, tokens, role = source.text, source.tokens, source.role
    if isinstance(node, exp.Func):
        name = _function_name(node)
        why = forbidden_function(name, source.dialect) if name else None
        if why is not None:
            code = "SQL406" if role == "transform" and why.reads_files else "SQL403"
            hint = (
                "read files with a filesystem.csv_extractor step and name it in inputs"
                if code == "SQL406"
                else None
            )
            shown = fold_name(name).upper()
            written = "" if shown == name.upper() else f" (written {name!r})"
            return Problem(
                code,
                f"{shown}(){written} is not allowed: {why.reason}",
                _hint_span(text) if node.find_ancestor(exp.Hint) else node_span(node),
                hint,
            )
        if name and unknown_function(node, name, source.dialect, source.trusted):
            return Problem(
                "SQL403",
                f"{name.upper()}() is not allowed: Osiris does not know it to be free of side "
                "effects (it may run SQL given as text, change settings, write or wait)",
                node_span(node),
                "if it only computes a value, vouch for it: `trusted_functions: "
                f"[{fold_name(name)}]` at the top of the pipeline (the manifest lists it)",
            )
    if isinstance(node, (exp.DML, exp.DDL, exp.Command, exp.Copy, exp.LoadData)):
        kind = node.this if isinstance(node, exp.Command) else node.key
        inside = " inside WITH (a writable CTE)" if node.find_ancestor(exp.CTE) else ""
        word = str(kind).upper()
        return Problem(
            "SQL402",
            f"{word}{inside} is not allowed: the query must only read",
            _keyword_span(tokens, word.split()[0], node_span(node)) or node_span(node),
            hint="a CTE must be a SELECT" if inside else None,
        )
    if isinstance(node, exp.Into):
        return Problem(
            "SQL404",
            "SELECT ... INTO writes the result into a table or variable: not allowed",
            _keyword_span(tokens, "INTO", node_span(node)),
            hint="remove the INTO clause: the step's output is the query's result",
        )
    if isinstance(node, exp.Lock):
        kind = "FOR UPDATE" if node.args.get("update") else "FOR SHARE"
        return Problem(
            "SQL404",
            f"{kind} (a locking read) is not allowed: an extract takes no row locks",
            _lock_span(tokens),
            hint="remove the locking clause",
        )
    if isinstance(node, exp.PropertyEQ) and isinstance(node.this, exp.Parameter):
        return Problem("SQL404", "assigning a variable (:=) is not allowed", node_span(node))
    if (
        isinstance(node, exp.Table)
        and role == "transform"
        and isinstance(node.this, exp.Identifier)
    ):
        start = node.this.meta_get("start")
        if isinstance(start, int) and text[start : start + 1] == "'":
            return Problem(
                "SQL406",
                f"'{node.name}' is a string used as a table: DuckDB would read it as a file",
                node_span(node.this),
                hint="read files with a filesystem.csv_extractor step and name it in inputs",
            )
    if not allowed_kind(type(node)):
        return Problem(
            "SQL404",
            f"{node.key.upper()} is not allowed in a read-only query",
            node_span(node),
        )
    return None


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        this = node.this
        return this.name if isinstance(this, exp.Expr) else str(this)
    try:
        return node.sql_name()
    except (NotImplementedError, SqlglotError):
        return node.key


def node_span(node: exp.Expr) -> tuple[int, int] | None:
    """Offsets of a node in its SQL text, from the token positions sqlglot records."""
    if isinstance(node, exp.Func) and isinstance(node.meta_get("start"), int):
        return (node.meta_get("start"), node.meta_get("end") + 1)  # the function's name
    starts: list[int] = []
    ends: list[int] = []
    for child in node.walk():
        start, end = child.meta_get("start"), child.meta_get("end")
        if isinstance(start, int) and isinstance(end, int):
            starts.append(start)
            ends.append(end + 1)
    return (min(starts), max(ends)) if starts else None


def _keyword_span(
    tokens: list[Token], word: str, inner: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The keyword that opens a construct: the last `word` token before its first node."""
    limit = inner[0] if inner is not None else None
    found = None
    for token in tokens:
        if limit is not None and token.start > limit:
            break
        if token.text.upper() == word:
            found = (token.start, token.end + 1)
    return found


def _hint_span(text: str) -> tuple[int, int] | None:
    """Where an optimizer hint comment starts: sqlglot parses hints from their own text."""
    found = text.find("/*+")
    return (found, found + 3) if found >= 0 else None


def _lock_span(tokens: list[Token]) -> tuple[int, int] | None:
    for index, token in enumerate(tokens):
        if token.token_type in (TokenType.FOR, TokenType.LOCK) and index + 1 < len(tokens):
            return (token.start, tokens[index + 1].end + 1)
    return None


# ---- the transform's tables -----------------------------------------------------------


def check_transform_tables(tree: exp.Expr, available: Mapping[str, str]) -> list[Problem]:
    """Every table a transform reads is an input: `available` maps a name to its step."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    lowered = {name.lower() for name in available}
    names = sorted(available)
    problems: list[Problem] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: the deny-list has judged it
        name = table.name
        qualified = bool(table.db or table.catalog)
        if not qualified and (name.lower() in ctes or name.lower() in lowered):
            continue
        if FILE_NAME.search(name):
            problems.append(
                Problem(
                    "SQL406",
                    f"'{name}' names a file or URL: DuckDB would read it as a file",
                    node_span(table.this),
                    hint="read files with a filesystem.csv_extractor step and name it in inputs",
                )
            )
            continue
        shown = ".".join(p for p in (table.catalog, table.db, name) if p)
        suggestions = did_you_mean(name, names)
        readable = f"reads only its inputs ({', '.join(names)})" if names else "has no upstream"
        problems.append(
            Problem(
                "SQL405",
                f"unknown table '{shown}': a transform {readable}",
                node_span(table.this),
                suggestions=suggestions,
                hint=None
                if suggestions
                else "name the step it reads in needs, then read it as df_<id>",
            )
        )
    return problems
