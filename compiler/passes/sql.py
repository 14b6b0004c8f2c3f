"""sql — every SQL field parsed in its dialect: extracts only read, transforms read only inputs.

Each field a component declares (`x-sql: {field, dialect, role}`) is parsed once with
sqlglot. An `extract` is one statement whose whole tree passes a read-only allow-list; a
`transform` (DuckDB) is the same, and may read only its inputs — never a file, a URL or
another database. With a catalog of the source, tables and columns must exist. The pass
leaves canonical SQL (`program.sql`), column lineage and column types behind.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - id: a
...     component: mysql.extractor
...     mode: read
...     config:
...       query: |
...         SELECT id,
...                LOAD_FILE('/etc/passwd') AS p
...         FROM orders
... '''
>>> [(d.code, d.line, d.column, d.message) for d in validate_text(src)]
[('SQL403', 10, 16, 'LOAD_FILE() is not allowed: it reads files on the database server')]
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlglot.expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokenizer_core import Token, TokenType

from compiler.diagnostics import did_you_mean
from compiler.loader import Scalar, pointer
from compiler.passes.params import param_text
from compiler.program import CompileContext, Program, SqlUnit
from compiler.sql.engine import Bound, bind_transform
from compiler.sql.lexemes import split_operator
from compiler.sql.problem import Problem
from grammar import ParamRef

if TYPE_CHECKING:
    from compiler.catalog import Catalog
    from components.registry import ComponentSpec, SqlField


# ---- what a query may not do ----------------------------------------------------------


class Forbidden(NamedTuple):
    reason: str
    #: A table source that reads files or the network: SQL406 inside a transform.
    reads_files: bool = False
    #: Only in these dialects (the name is harmless elsewhere); None = everywhere.
    dialects: frozenset[str] | None = None


_SERVER_FILES = "it reads files on the database server"
_SERVER_WRITES = "it writes files on the database server"
_OTHER_DB = "it connects to another database"
_STALLS = "it stalls the server (denial of service)"
_SIDE_EFFECT = "it changes server state"
_FILES = Forbidden("it reads files or the network", reads_files=True)
_RUNS_SQL = Forbidden("it runs SQL given as a string")
_DUCKDB = frozenset({"duckdb"})

#: Functions no query may call, by lower-case name; a name ending in `*` is a prefix. The
#: dialect spellings all live here: a name is matched case-insensitively after Unicode
#: normalization, so `lOaD_fIlE` and a full-width `ＬＯＡＤ_ＦＩＬＥ` are the same name.
FORBIDDEN_FUNCTIONS: Mapping[str, Forbidden] = {
    # MySQL / MariaDB
    "load_file": Forbidden(_SERVER_FILES),
    "sleep": Forbidden(_STALLS),
    "benchmark": Forbidden(_STALLS),
    "get_lock": Forbidden(_STALLS),
    "release_lock": Forbidden(_SIDE_EFFECT),
    "release_all_locks": Forbidden(_SIDE_EFFECT),
    "master_pos_wait": Forbidden(_STALLS),
    "source_pos_wait": Forbidden(_STALLS),
    "wait_for_executed_gtid_set": Forbidden(_STALLS),
    "master_gtid_wait": Forbidden(_STALLS),
    "set_var": Forbidden("it sets a server variable"),
    "sys_exec": Forbidden("it runs a program on the database server"),
    "sys_eval": Forbidden("it runs a program on the database server"),
    "nextval": Forbidden("it advances a sequence"),
    "setval": Forbidden("it sets a sequence"),
    "next_value_for": Forbidden("it advances a sequence"),
    # PostgreSQL
    "pg_read_file": Forbidden(_SERVER_FILES),
    "pg_read_binary_file": Forbidden(_SERVER_FILES),
    "pg_ls_*": Forbidden(_SERVER_FILES),
    "pg_stat_file": Forbidden(_SERVER_FILES),
    "pg_file_*": Forbidden(_SERVER_WRITES),
    "pg_logdir_ls": Forbidden(_SERVER_FILES),
    "lo_*": Forbidden("it reads or writes large objects and server files"),
    "dblink*": Forbidden(_OTHER_DB),
    "pg_sleep*": Forbidden(_STALLS),
    "pg_advisory_*": Forbidden(_STALLS),
    "pg_try_advisory_*": Forbidden(_STALLS),
    "set_config": Forbidden("it sets a server setting"),
    "pg_terminate_backend": Forbidden(_SIDE_EFFECT),
    "pg_cancel_backend": Forbidden(_SIDE_EFFECT),
    "pg_reload_conf": Forbidden(_SIDE_EFFECT),
    "pg_rotate_logfile": Forbidden(_SIDE_EFFECT),
    "pg_switch_wal": Forbidden(_SIDE_EFFECT),
    "pg_promote": Forbidden(_SIDE_EFFECT),
    "pg_notify": Forbidden(_SIDE_EFFECT),
    "pg_create_*": Forbidden(_SIDE_EFFECT),
    "pg_drop_replication_slot": Forbidden(_SIDE_EFFECT),
    "pg_replication_origin_*": Forbidden(_SIDE_EFFECT),
    "pg_logical_emit_message": Forbidden(_SIDE_EFFECT),
    "pg_stat_reset*": Forbidden(_SIDE_EFFECT),
    "pg_backup_*": Forbidden(_SIDE_EFFECT),
    "pg_start_backup": Forbidden(_SIDE_EFFECT),
    "pg_stop_backup": Forbidden(_SIDE_EFFECT),
    "pg_import_system_collations": Forbidden(_SIDE_EFFECT),
    "pg_logical_slot_*": Forbidden(_SIDE_EFFECT),
    "pg_replication_slot_advance": Forbidden(_SIDE_EFFECT),
    "pg_copy_*": Forbidden(_SIDE_EFFECT),
    "pg_wal_replay_*": Forbidden(_SIDE_EFFECT),
    "pg_log_backend_memory_contexts": Forbidden(_SIDE_EFFECT),
    "pg_log_standby_snapshot": Forbidden(_SIDE_EFFECT),
    "pg_nextoid": Forbidden(_SIDE_EFFECT),
    "query_to_xml*": _RUNS_SQL,
    "cursor_to_xml*": _RUNS_SQL,
    # DuckDB: files, the network, other databases, the environment
    "read_*": _FILES,
    "parquet_*": _FILES,
    "glob": _FILES,
    "sniff_csv": _FILES,
    "iceberg_*": _FILES,
    "delta_scan": _FILES,
    "sqlite_*": Forbidden(_OTHER_DB, reads_files=True),
    "postgres_*": Forbidden(_OTHER_DB, reads_files=True),
    "mysql_*": Forbidden(_OTHER_DB, reads_files=True),
    "st_read*": _FILES,
    "httpfs*": _FILES,
    "http_*": _FILES,
    "query": _RUNS_SQL,
    "query_table": _RUNS_SQL,
    "json_execute_serialized_sql": _RUNS_SQL,
    "getenv": Forbidden("it reads the environment"),
    "current_setting": Forbidden("it reads settings, which may hold credentials", False, _DUCKDB),
    "duckdb_settings": Forbidden("it reads settings, which may hold credentials"),
    "duckdb_secrets": Forbidden("it lists stored credentials"),
    "which_secret": Forbidden("it looks up stored credentials"),
    "load_aws_credentials": Forbidden("it loads credentials"),
}
_FORBIDDEN_PREFIXES = tuple(
    (name[:-1], why) for name, why in FORBIDDEN_FUNCTIONS.items() if name.endswith("*")
)


#: Functions sqlglot parses as anonymous (it has no class for them), reviewed one by one:
#: each computes its value from its arguments, the clock or the session's identity, and
#: does nothing else. Every other anonymous function is refused (SQL403) unless the
#: pipeline vouches for it under `trusted_functions` — the allow-list, where the deny-list
#: above only names what is known to be dangerous. sqlglot's typed functions pass (they
#: are the engines' documented scalar, aggregate and window functions), minus the deny-list.
SAFE_FUNCTIONS: Mapping[str, frozenset[str]] = {
    "mysql": frozenset(
        {
            "adddate", "addtime", "aes_decrypt", "aes_encrypt", "bin", "charset", "collation",
            "column_add", "column_check", "column_create", "column_delete", "column_exists",
            "column_get", "column_json", "column_list", "compress", "connection_id", "conv",
            "crc32", "current_user", "database", "decode_histogram", "export_set", "field",
            "find_in_set", "found_rows", "from_days", "get_format", "inet6_aton", "inet6_ntoa",
            "inet_aton", "inet_ntoa", "is_ipv4", "is_ipv6", "is_uuid", "json_array",
            "json_arrayagg", "json_compact", "json_contains", "json_contains_path", "json_depth",
            "json_detailed", "json_equals", "json_exists", "json_length", "json_loose",
            "json_merge", "json_merge_patch", "json_merge_preserve", "json_normalize",
            "json_overlaps", "json_pretty", "json_query", "json_quote", "json_replace",
            "json_search", "json_storage_size", "json_unquote", "json_valid", "last_insert_id",
            "lastval", "locate", "make_set", "makedate", "mid", "natural_sort_key", "now", "oct",
            "octet_length", "ord", "period_add", "period_diff", "point", "quote", "regexp",
            "row_count", "schema", "sec_to_time", "session_user", "sformat", "sha", "st_astext",
            "st_geomfromtext", "strcmp", "subdate", "subtime", "sys_guid", "sysdate", "system_user",
            "time_format", "time_to_sec", "timediff", "to_seconds", "uncompress",
            "uncompressed_length", "unix_timestamp", "user", "utc_time", "utc_timestamp", "uuid",
            "uuid_short", "weekday", "weight_string", "yearweek"
        }
    ),
    "postgres": frozenset(
        {
            "age", "array_dims", "array_fill", "array_lower", "array_positions", "array_replace",
            "array_to_tsvector", "array_upper", "bit_count", "cardinality", "clock_timestamp",
            "col_description", "convert_from", "convert_to", "current_schemas", "current_setting",
            "every", "format_type", "gcd", "generate_subscripts", "get_byte", "has_table_privilege",
            "hashtext", "inet_server_addr", "is_normalized", "isfinite", "json_array_elements",
            "json_array_elements_text", "json_array_length", "json_build_array",
            "json_build_object", "json_each", "json_each_text", "json_object_keys",
            "json_populate_record", "json_to_record", "json_typeof", "jsonb_agg",
            "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_array_length",
            "jsonb_build_array", "jsonb_build_object", "jsonb_each", "jsonb_each_text",
            "jsonb_extract_path", "jsonb_extract_path_text", "jsonb_insert", "jsonb_object_keys",
            "jsonb_path_exists", "jsonb_path_query", "jsonb_path_query_array",
            "jsonb_path_query_first", "jsonb_pretty", "jsonb_set", "jsonb_strip_nulls",
            "jsonb_typeof", "justify_days", "justify_hours", "justify_interval", "lcm", "make_date",
            "make_interval", "make_timestamp", "make_timestamptz", "num_nonnulls", "num_nulls",
            "numnode", "obj_description", "octet_length", "pg_column_size", "pg_get_viewdef",
            "pg_relation_size", "pg_size_pretty", "pg_total_relation_size", "pg_typeof",
            "phraseto_tsquery", "plainto_tsquery", "querytree", "quote_ident", "quote_literal",
            "quote_nullable", "regexp_match", "regexp_matches", "regexp_split_to_array",
            "regexp_split_to_table", "row_to_json", "scale", "set_bit", "set_byte", "setweight",
            "sha224", "statement_timestamp", "string_to_table", "strip", "timeofday", "to_json",
            "to_jsonb", "to_tsquery", "to_tsvector", "transaction_timestamp", "trim_scale",
            "ts_delete", "ts_filter", "ts_headline", "ts_rank", "ts_rank_cd", "tsvector_to_array",
            "unistr", "websearch_to_tsquery"
        }
    ),
    "duckdb": frozenset(
        {
            "age", "array_transform", "array_value", "array_zip", "bit_count", "cardinality",
            "date_part", "date_sub", "datepart", "datesub", "decade", "epoch_ns", "epoch_us", "era",
            "even", "favg", "fsum", "gamma", "gcd", "generate_subscripts", "hash", "histogram",
            "ilike_escape", "isfinite", "isoyear", "jaccard", "jaro_similarity",
            "json_array_length", "json_contains", "json_group_array", "json_group_object",
            "json_structure", "json_transform", "json_valid", "lcm", "lgamma", "like_escape",
            "list_aggregate", "list_extract", "list_position", "list_reduce", "list_slice",
            "list_unique", "list_zip", "map_extract", "map_values", "microsecond", "millisecond",
            "mismatches", "nextafter", "now", "octet_length", "ord", "prefix", "printf", "product",
            "regexp_split_to_array", "reservoir_quantile", "signbit", "stats", "strip_accents",
            "strlen", "suffix", "sum_no_overflow", "timezone", "to_hours", "to_json", "to_minutes",
            "to_seconds", "transaction_timestamp", "try_strptime", "weekday", "yearweek"
        }
    ),
}  # fmt: skip


def unknown_function(
    node: exp.Func, name: str, dialect: str, trusted: frozenset[str] = frozenset()
) -> bool:
    """Whether `node` calls a function no list vouches for: neither a typed sqlglot
    function, nor reviewed for `dialect`, nor one the pipeline trusts."""
    if not isinstance(node, exp.Anonymous) or node.find_ancestor(exp.Hint):
        return False  # an optimizer hint is a comment the server reads, not a call
    key = _fold(name)
    if key in SAFE_FUNCTIONS.get(dialect, frozenset()) or key in trusted:
        return False
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:  # schema.function()
        return f"{_fold(parent.this.name)}.{key}" not in trusted
    return True


def forbidden_function(name: str, dialect: str) -> Forbidden | None:
    """Why a function may not be called in `dialect`, or None when it may."""
    key = _fold(name)
    found = FORBIDDEN_FUNCTIONS.get(key)
    if found is None:
        found = next((why for prefix, why in _FORBIDDEN_PREFIXES if key.startswith(prefix)), None)
    if found is not None and found.dialects is not None and dialect not in found.dialects:
        return None
    return found


def _fold(name: str) -> str:
    """A name as the deny-list compares it: NFKC, no invisible characters, lower case."""
    text = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").lower()


# The read-only allow-list: query structure named one by one, and expression nodes — the
# operators and functions of sqlglot's expression modules. Anything else (DML, DDL,
# commands, INTO, locking clauses, properties, ...) is refused.
_QUERY_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select, exp.Union, exp.Except, exp.Intersect, exp.Subquery, exp.Values,
        exp.With, exp.CTE, exp.RecursiveWithSearch, exp.TableAlias, exp.From, exp.Join,
        exp.Lateral, exp.Table, exp.Where, exp.Group, exp.Cube, exp.Rollup,
        exp.GroupingSets, exp.Having, exp.Qualify, exp.Window, exp.WindowSpec,
        exp.PartitionByExcluding, exp.Order, exp.Ordered, exp.Limit, exp.LimitOptions,
        exp.Offset, exp.Fetch, exp.Distinct, exp.Tuple, exp.Lambda, exp.Hint,
        exp.TableSample, exp.Pivot, exp.PivotAlias, exp.UnpivotColumns, exp.ColumnDef,
        exp.Column, exp.Literal, exp.Var, exp.Identifier, exp.Star, exp.Null,
        exp.Boolean, exp.Alias, exp.Aliases, exp.Bracket, exp.WithinGroup, exp.Filter,
        exp.IgnoreNulls, exp.RespectNulls, exp.HavingMax, exp.Slice, exp.AtTimeZone,
        exp.FromTimeZone, exp.Placeholder, exp.Parameter, exp.SessionParameter,
        exp.Pseudocolumn, exp.PositionalColumn, exp.Interval, exp.IntervalSpan,
        exp.DataType, exp.DataTypeParam, exp.BitString, exp.HexString, exp.ByteString,
        exp.RawString, exp.UnicodeString, exp.National, exp.Introducer, exp.JSONPath,
        exp.JSONKeyValue, exp.FormatJson, exp.JSONColumnDef, exp.JSONSchema, exp.JSONValue,
        exp.OnCondition, exp.Between, exp.In, exp.All, exp.Any,
    }
)  # fmt: skip
_EXPRESSION_MODULES = frozenset(
    {"core", "aggregate", "array", "functions", "json", "math", "string", "temporal", "query"}
)
_OPERATOR_BASES = (exp.Func, exp.Binary, exp.Unary, exp.Predicate)


_ALLOWED: dict[type[exp.Expr], bool] = {}


def _allowed(kind: type[exp.Expr]) -> bool:
    found = _ALLOWED.get(kind)
    if found is None:
        module = kind.__module__.rpartition(".")[2]
        found = _ALLOWED[kind] = (
            kind in _QUERY_NODES
            or issubclass(kind, exp.JSONPathPart)
            or (module in _EXPRESSION_MODULES and issubclass(kind, _OPERATOR_BASES))
        )
    return found


#: Tokens a read-only statement can start with.
_QUERY_START = frozenset(
    {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.L_PAREN, TokenType.TABLE,
     TokenType.FROM}
)  # fmt: skip
_SECOND_WORD = frozenset(
    {"DATA", "XML", "ANALYZE", "TABLE", "TABLES", "DATABASE", "EXTENSION", "SECRET", "INDEX",
     "VIEW", "SCHEMA", "PROCEDURE", "FUNCTION"}
)  # fmt: skip
_FILE_NAME = re.compile(
    r"(://|/|\\|\.(csv|tsv|parquet|json|jsonl|ndjson|txt|gz|zst|xlsx|db)$)", re.I
)
_ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)


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
    problems = _check_tokens(tokens, text, dialect)
    if problems:
        return Checked(None, tuple(problems))
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


def _check_tokens(tokens: list[Token], text: str, dialect: str) -> list[Problem]:
    """What the token stream alone shows: stacked statements, executable comments, INTO."""
    statements: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token)
    statements = [s for s in statements if s]
    if not statements:
        return [Problem("SQL400", "no SQL statement", None, hint="write one SELECT")]
    if len(statements) > 1:
        second = statements[1][0]
        return [
            Problem(
                "SQL401",
                f"more than one SQL statement: a second one starts with {second.text!r}",
                (second.start, second.end + 1),
                hint="write exactly one SELECT; remove the ';' and what follows",
            )
        ]
    if dialect == "postgres":
        escaped = _unicode_identifier(tokens)
        if escaped is not None:
            return [
                Problem(
                    "SQL404",
                    'a Unicode-escaped name U&"..." is not allowed: it can spell any name, '
                    "a forbidden function's included",
                    escaped,
                    hint="write the name plainly, its characters as they are",
                )
            ]
    if dialect == "mysql":
        for token in tokens:
            if any(c.startswith(("!", "M!")) for c in token.comments):
                start = _comment_start(text, tokens)
                return [
                    Problem(
                        "SQL404",
                        "MySQL executable comment '/*! ... */' is not allowed: "
                        "the server runs its content as SQL",
                        (start, start + 3) if start is not None else None,
                        hint="remove the comment",
                    )
                ]
    first = statements[0][0]
    if first.token_type not in _QUERY_START:
        word = first.text.upper()
        following = statements[0][1].text.upper() if len(statements[0]) > 1 else ""
        if following in _SECOND_WORD:
            word = f"{word} {following}"
        return [
            Problem(
                "SQL402",
                f"{word} is not a read-only query: only one SELECT is allowed",
                (first.start, first.end + 1),
                hint="write a SELECT (WITH ... SELECT, UNION and VALUES are fine)",
            )
        ]
    return []


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
    if not isinstance(tree, _ROOTS) or (
        isinstance(tree, exp.Subquery) and not isinstance(tree.unnest(), _ROOTS)
    ):
        word = str(tree.this if isinstance(tree, exp.Command) else tree.key).upper()
        first = next((t for t in source.tokens if t.text.upper() == word), None)
        return [
            Problem(
                "SQL402",
                f"{word} is not a read-only query: only one SELECT is allowed",
                (first.start, first.end + 1) if first is not None else _span(tree),
                hint="write a SELECT (WITH ... SELECT, UNION and VALUES are fine)",
            )
        ]
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
            shown = _fold(name).upper()
            written = "" if shown == name.upper() else f" (written {name!r})"
            return Problem(
                code,
                f"{shown}(){written} is not allowed: {why.reason}",
                _hint_span(text) if node.find_ancestor(exp.Hint) else _span(node),
                hint,
            )
        if name and unknown_function(node, name, source.dialect, source.trusted):
            return Problem(
                "SQL403",
                f"{name.upper()}() is not allowed: Osiris does not know it to be free of side "
                "effects (it may run SQL given as text, change settings, write or wait)",
                _span(node),
                "if it only computes a value, vouch for it: `trusted_functions: "
                f"[{_fold(name)}]` at the top of the pipeline (the manifest lists it)",
            )
    if isinstance(node, (exp.DML, exp.DDL, exp.Command, exp.Copy, exp.LoadData)):
        kind = node.this if isinstance(node, exp.Command) else node.key
        inside = " inside WITH (a writable CTE)" if node.find_ancestor(exp.CTE) else ""
        word = str(kind).upper()
        return Problem(
            "SQL402",
            f"{word}{inside} is not allowed: the query must only read",
            _keyword_span(tokens, word.split()[0], _span(node)) or _span(node),
            hint="a CTE must be a SELECT" if inside else None,
        )
    if isinstance(node, exp.Into):
        return Problem(
            "SQL404",
            "SELECT ... INTO writes the result into a table or variable: not allowed",
            _keyword_span(tokens, "INTO", _span(node)),
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
        return Problem("SQL404", "assigning a variable (:=) is not allowed", _span(node))
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
                _span(node.this),
                hint="read files with a filesystem.csv_extractor step and name it in inputs",
            )
    if not _allowed(type(node)):
        return Problem(
            "SQL404",
            f"{node.key.upper()} is not allowed in a read-only query",
            _span(node),
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


def _span(node: exp.Expr) -> tuple[int, int] | None:
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
        if _FILE_NAME.search(name):
            problems.append(
                Problem(
                    "SQL406",
                    f"'{name}' names a file or URL: DuckDB would read it as a file",
                    _span(table.this),
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
                _span(table.this),
                suggestions=suggestions,
                hint=None
                if suggestions
                else "name the step it reads in needs, then read it as df_<id>",
            )
        )
    return problems


# ---- schemas, name resolution and lineage ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Relation:
    """A table a query reads: how lineage names it, and its columns when known."""

    display: str
    columns: tuple[tuple[str, str | None], ...] | None = None

    def find(self, name: str) -> tuple[str, str | None] | None:
        lowered = name.lower()
        return next((c for c in self.columns or () if c[0].lower() == lowered), None)


class Lookup(Protocol):
    """How a query's table maps to what is known of it: None means "no such table"."""

    known_tables: tuple[str, ...]

    def __call__(self, table: exp.Table) -> Relation | None: ...


class NoCatalog:
    """No catalog: every table exists, with columns unknown."""

    known_tables: tuple[str, ...] = ()

    def __call__(self, table: exp.Table) -> Relation | None:
        return Relation(".".join(p for p in (table.db, table.name) if p))


@dataclass
class Analysis:
    problems: list[Problem]
    #: Output columns in order with their types, when every one of them is known.
    outputs: list[tuple[str, str | None]] | None = None
    lineage: dict[str, list[str]] | None = None
    tables: tuple[str, ...] = ()


class _Output(NamedTuple):
    name: str
    type: str | None
    #: The projection it comes from, or (source key, column) for a `*` expansion.
    origin: exp.Expr | tuple[str, str]


class _Resolver:
    """Names in a parsed query resolved scope by scope against the known relations."""

    def __init__(self, scopes: list[Scope], lookup: Lookup, dialect: str) -> None:
        self.scopes = scopes
        self.dialect = dialect
        self.relations: dict[int, Relation | None] = {}
        self.missing: list[exp.Table] = []
        self._outputs: dict[int, list[_Output] | None] = {}
        for scope in scopes:
            for source in scope.sources.values():
                if isinstance(source, exp.Table) and id(source) not in self.relations:
                    if not isinstance(source.this, exp.Identifier):
                        self.relations[id(source)] = Relation("")  # a table function
                        continue
                    relation = lookup(source)
                    if relation is None:
                        self.missing.append(source)
                    self.relations[id(source)] = relation

    # sources -------------------------------------------------------------------------

    def selected(self, scope: Scope) -> list[tuple[str, exp.Table | Scope]]:
        try:
            return [(name, source) for name, (_, source) in scope.selected_sources.items()]
        except SqlglotError:
            return []

    def source(self, scope: Scope | None, name: str) -> tuple[Scope, exp.Table | Scope] | None:
        """The source `name` (an alias or table name) refers to, here or in an outer scope."""
        lowered = name.lower()
        while scope is not None:
            for key, source in scope.sources.items():
                if key.lower() == lowered:
                    return scope, source
            scope = scope.parent
        return None

    def columns(self, source: exp.Table | Scope) -> tuple[tuple[str, str | None], ...] | None:
        if isinstance(source, exp.Table):
            relation = self.relations.get(id(source))
            return relation.columns if relation is not None else None
        outputs = self.outputs(source)
        return tuple((o.name, o.type) for o in outputs) if outputs is not None else None

    def has(self, source: exp.Table | Scope, name: str) -> bool | None:
        columns = self.columns(source)
        if columns is None:
            return None
        lowered = name.lower()
        return any(c[0].lower() == lowered for c in columns)

    # outputs -------------------------------------------------------------------------

    def outputs(self, scope: Scope) -> list[_Output] | None:
        key = id(scope)
        if key not in self._outputs:
            self._outputs[key] = None  # a recursive CTE refers to itself: unknown
            self._outputs[key] = self._compute_outputs(scope)
        return self._outputs[key]

    def _compute_outputs(self, scope: Scope) -> list[_Output] | None:
        expression = scope.expression
        if isinstance(expression, exp.SetOperation) and scope.set_operation_scopes:
            return self.outputs(scope.set_operation_scopes[0])
        if not isinstance(expression, exp.Select):
            return None
        found: list[_Output] = []
        for projection in expression.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                qualifier = projection.table if isinstance(projection, exp.Column) else ""
                star = projection if isinstance(projection, exp.Star) else projection.this
                if star.args.get("replace") or star.args.get("rename"):
                    return None
                expanded = self._expand_star(scope, qualifier)
                if expanded is None:
                    return None
                excluded = {e.name.lower() for e in star.args.get("except_") or ()}
                found.extend(o for o in expanded if o.name.lower() not in excluded)
                continue
            # engines name an unaliased expression each their own way: only an alias or a
            # plain column gives a name every engine agrees on
            if not isinstance(projection, (exp.Alias, exp.Column)) or not projection.alias_or_name:
                return None
            name = projection.alias_or_name
            found.append(_Output(name, self.type_of(scope, projection), projection))
        if scope.outer_columns:
            if len(scope.outer_columns) != len(found):
                return None
            found = [o._replace(name=n) for o, n in zip(found, scope.outer_columns, strict=True)]
        return found

    def _expand_star(self, scope: Scope, qualifier: str) -> list[_Output] | None:
        found: list[_Output] = []
        for key, source in self.selected(scope):
            if qualifier and key.lower() != qualifier.lower():
                continue
            columns = self.columns(source)
            if columns is None:
                return None
            found.extend(_Output(name, kind, (key, name)) for name, kind in columns)
        return found or None

    def type_of(self, scope: Scope, expression: exp.Expr) -> str | None:
        node = expression.unalias()
        if isinstance(node, exp.Column):
            resolved = self.resolve(scope, node)
            if resolved is None:
                return None
            columns = self.columns(resolved[1])
            found = next((c for c in columns or () if c[0].lower() == node.name.lower()), None)
            return found[1] if found else None
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return normalized_type(node.to)
        if isinstance(node, exp.Count):
            return "integer"
        if isinstance(node, (exp.Min, exp.Max, exp.Sum)) and isinstance(node.this, exp.Expr):
            inner = self.type_of(scope, node.this)
            if isinstance(node, exp.Sum):
                # MySQL sums exact numbers as DECIMAL; PostgreSQL and DuckDB keep integers
                if inner == "integer" and self.dialect == "mysql":
                    return "decimal"
                return inner if inner in ("integer", "decimal", "float") else None
            return inner
        if isinstance(node, exp.Literal):
            return "string" if node.is_string else ("integer" if node.is_int else "decimal")
        return None

    # columns -------------------------------------------------------------------------

    def resolve(self, scope: Scope, column: exp.Column) -> tuple[Scope, exp.Table | Scope] | None:
        """The source a column reads, when that can be told."""
        if column.table:
            return self.source(scope, column.table)
        current: Scope | None = scope
        while current is not None:
            selected = self.selected(current)
            having = [(current, s) for _, s in selected if self.has(s, column.name)]
            if len(having) == 1:
                return having[0]
            if len(selected) == 1 and not having and self.has(selected[0][1], column.name) is None:
                return current, selected[0][1]
            if having:
                return None
            current = current.parent
        return None

    def owners(self) -> dict[int, Scope]:
        """Each column's own scope: the innermost that lists it (scopes come inner first)."""
        owner: dict[int, Scope] = {}
        for scope in self.scopes:
            for column in scope.columns:
                owner.setdefault(id(column), scope)
        return owner

    # lineage -------------------------------------------------------------------------

    def trace(self, scope: Scope, origin: exp.Expr | tuple[str, str], depth: int = 0) -> set[str]:
        if depth > 50:
            return set()
        if isinstance(origin, tuple):
            key, name = origin
            found = self.source(scope, key)
            return self._trace_name(found[1], name, depth) if found else set()
        out: set[str] = set()
        for column in _columns_in(origin):
            resolved = self.resolve(scope, column)
            if resolved is not None:
                out |= self._trace_name(resolved[1], column.name, depth)
        return out

    def _trace_name(self, source: exp.Table | Scope, name: str, depth: int) -> set[str]:
        if isinstance(source, exp.Table):
            relation = self.relations.get(id(source))
            if relation is None or not relation.display:
                return set()  # a table function: no table to name
            found = relation.find(name)
            return {f"{relation.display}.{found[0] if found else name}"}
        return self._trace_scope(source, name, depth + 1)

    def _trace_scope(self, scope: Scope, name: str, depth: int) -> set[str]:
        if isinstance(scope.expression, exp.SetOperation) and scope.set_operation_scopes:
            out: set[str] = set()
            left = self.outputs(scope.set_operation_scopes[0]) or []
            index = next((i for i, o in enumerate(left) if o.name.lower() == name.lower()), None)
            if index is None:
                return out
            for branch in scope.set_operation_scopes:
                outputs = self.outputs(branch) or []
                if index < len(outputs):
                    out |= self._trace_output(branch, outputs[index], depth)
            return out
        outputs = self.outputs(scope) or []
        found = next((o for o in outputs if o.name.lower() == name.lower()), None)
        return self._trace_output(scope, found, depth) if found else set()

    def _trace_output(self, scope: Scope, output: _Output, depth: int) -> set[str]:
        if isinstance(scope.expression, exp.SetOperation):
            return self._trace_scope(scope, output.name, depth + 1)
        return self.trace(scope, output.origin, depth + 1)


def _columns_in(node: exp.Expr) -> Iterator[exp.Column]:
    """Columns of an expression in its own scope (not inside a nested query)."""
    for child in node.walk(prune=lambda n: n is not node and isinstance(n, exp.Query)):
        if isinstance(child, exp.Column) and not isinstance(child.this, exp.Star):
            yield child


def normalized_type(data_type: exp.DataType | None) -> str | None:
    """A sqlglot type in the catalog's normalized vocabulary."""
    if data_type is None:
        return None
    kind = data_type.this
    T = exp.DataType.Type
    groups: tuple[tuple[str, frozenset[Any]], ...] = (
        ("integer", frozenset({T.TINYINT, T.SMALLINT, T.MEDIUMINT, T.INT, T.BIGINT,
                               T.UTINYINT, T.USMALLINT, T.UINT, T.UBIGINT, T.INT128})),
        ("decimal", frozenset({T.DECIMAL, T.MONEY})),
        ("float", frozenset({T.FLOAT, T.DOUBLE})),
        ("boolean", frozenset({T.BOOLEAN})),
        ("string", frozenset({T.VARCHAR, T.CHAR, T.NVARCHAR, T.NCHAR})),
        ("text", frozenset({T.TEXT, T.MEDIUMTEXT, T.LONGTEXT, T.TINYTEXT})),
        ("date", frozenset({T.DATE})),
        ("datetime", frozenset({T.DATETIME, T.TIMESTAMP})),
        ("timestamptz", frozenset({T.TIMESTAMPTZ, T.TIMESTAMPLTZ})),
        ("time", frozenset({T.TIME})),
        ("json", frozenset({T.JSON, T.JSONB})),
        ("binary", frozenset({T.BINARY, T.VARBINARY, T.BLOB})),
        ("uuid", frozenset({T.UUID})),
    )  # fmt: skip
    return next((name for name, kinds in groups if kind in kinds), "other")


def analyze(
    tree: exp.Expr,
    lookup: Lookup,
    *,
    check_columns: bool,
    where: str,
    dialect: str,
) -> Analysis:
    """Resolve tables and columns; report unknown or ambiguous ones when `check_columns`.

    sqlglot's scope machinery can fail on constructs it does not model; then there is
    simply no analysis (no lineage, no schema check) — never a crash, never a false error.
    """
    try:
        scopes = traverse_scope(tree)
        resolver = _Resolver(scopes, lookup, dialect)
    except (SqlglotError, RecursionError, KeyError, ValueError, AttributeError):
        return Analysis([])
    if not scopes:
        return Analysis([])
    problems = [_unknown_table(table, lookup, where, dialect) for table in resolver.missing]
    if check_columns and not resolver.missing:
        # if sqlglot cannot classify the columns: no check rather than a wrong one
        with contextlib.suppress(SqlglotError, RecursionError):
            problems.extend(_check_columns(resolver))
    analysis = Analysis(problems, tables=_tables(resolver))
    try:
        root = scopes[-1]
        outputs = resolver.outputs(root)
        if outputs is not None:
            analysis.outputs = [(o.name, o.type) for o in outputs]
            lineage: dict[str, list[str]] = {}
            for output in outputs:
                traced = resolver._trace_output(root, output, 0)
                lineage.setdefault(output.name, [])
                lineage[output.name] = sorted({*lineage[output.name], *traced})
            analysis.lineage = lineage
    except (SqlglotError, RecursionError, KeyError, ValueError, AttributeError):
        analysis.outputs = analysis.lineage = None
    return analysis


def _tables(resolver: _Resolver) -> tuple[str, ...]:
    names = {r.display for r in resolver.relations.values() if r is not None and r.display}
    return tuple(sorted(names))


def _unknown_table(table: exp.Table, lookup: Lookup, where: str, dialect: str) -> Problem:
    known = lookup.known_tables
    suggestions = did_you_mean(table.name, known)
    shown = ".".join(p for p in (table.db, table.name) if p)
    return Problem(
        "SQL407",
        f"unknown table '{shown}' in {where}",
        _span(table.this),
        suggestions=suggestions,
        hint=None
        if suggestions
        else ("tables: " + ", ".join(sorted(known)[:20]) if known else "run osiris discover"),
    )


def _check_columns(resolver: _Resolver) -> list[Problem]:
    problems: list[Problem] = []
    owners = resolver.owners()
    seen: set[int] = set()
    for scope in resolver.scopes:
        for column in scope.columns:
            if id(column) in seen or owners.get(id(column)) is not scope:
                continue
            seen.add(id(column))
            if column.find_ancestor(exp.Lambda, exp.Comprehension) is not None:
                continue
            problem = _check_column(resolver, scope, column)
            if problem is not None:
                problems.append(problem)
    return problems


def _check_column(resolver: _Resolver, scope: Scope, column: exp.Column) -> Problem | None:
    name = column.name
    if not name or isinstance(column, exp.Pseudocolumn):
        return None
    if column.table:
        found = resolver.source(scope, column.table)
        if found is None or column.db:
            return None  # not a source: a struct field, a record, an outer name
        source = found[1]
        if resolver.has(source, name) is not False:
            return None
        pool = [c[0] for c in resolver.columns(source) or ()]
        return Problem(
            "SQL408",
            f"{_describe(resolver, column.table, source)} has no column '{name}'",
            _span(column.this),
            suggestions=did_you_mean(name, pool),
            hint=None if did_you_mean(name, pool) else "columns: " + ", ".join(pool[:30]),
        )
    current: Scope | None = scope
    candidates: list[str] = []
    while current is not None:
        selected = resolver.selected(current)
        answers = [(key, source, resolver.has(source, name)) for key, source in selected]
        if any(answer is None for _, _, answer in answers):
            return None  # a source with unknown columns could have it
        having = [(key, source) for key, source, answer in answers if answer]
        if len(having) > 1:
            return _ambiguous(resolver, current, column, having)
        if having or _is_alias(current, name):
            return None
        if current is scope:
            candidates = [c[0] for _, source in selected for c in resolver.columns(source) or ()]
        current = current.parent
    if not candidates and not resolver.selected(scope):
        return None
    suggestions = did_you_mean(name, candidates)
    return Problem(
        "SQL408",
        f"unknown column '{name}'",
        _span(column.this),
        suggestions=suggestions,
        hint=None if suggestions else "columns: " + ", ".join(sorted(set(candidates))[:30]),
    )


def _ambiguous(
    resolver: _Resolver, scope: Scope, column: exp.Column, having: list[tuple[str, Any]]
) -> Problem | None:
    select = scope.expression
    for join in select.args.get("joins") or []:
        if join.args.get("kind") == "NATURAL" or join.args.get("method") == "NATURAL":
            return None
        if any(u.name.lower() == column.name.lower() for u in join.args.get("using") or []):
            return None
    options = tuple(sorted(f"{key}.{column.name}" for key, _ in having))
    return Problem(
        "SQL409",
        f"column '{column.name}' is ambiguous: "
        + " and ".join(_describe(resolver, key, source) for key, source in having)
        + " both have it",
        _span(column.this),
        hint="qualify it: " + " or ".join(options),
        suggestions=options,
    )


def _describe(resolver: _Resolver, key: str, source: exp.Table | Scope) -> str:
    if isinstance(source, exp.Table):
        relation = resolver.relations.get(id(source))
        display = relation.display if relation is not None else source.name
        return f"table '{display}'" if key.lower() == display.lower() else f"'{key}' ({display})"
    return f"'{key}'"


def _is_alias(scope: Scope, name: str) -> bool:
    expression = scope.expression
    if not isinstance(expression, exp.Select):
        return False
    lowered = name.lower()
    return any(
        isinstance(p, exp.Alias) and p.alias.lower() == lowered for p in expression.expressions
    )


# ---- catalogs -------------------------------------------------------------------------

#: Tables a server has without the catalog listing them (system schemas, DUAL).
_SYSTEM_TABLES: Mapping[str, re.Pattern[str]] = {
    "mysql": re.compile(r"^(dual)$", re.I),
    "postgres": re.compile(r"^(pg_.*|information_schema)$", re.I),
}


class CatalogLookup:
    """Tables of an extract's query looked up in the source's catalog."""

    def __init__(self, catalog: Catalog, dialect: str, schema: str | None = None) -> None:
        self.catalog = catalog
        self.dialect = dialect
        self.schema = schema or catalog.default_schema
        self.known_tables = tuple(sorted({t.name for t in catalog.tables}))
        self._schemas = {t.schema_name.lower() for t in catalog.tables}

    def __call__(self, table: exp.Table) -> Relation | None:
        name, db = table.name, table.db
        display = f"{db}.{name}" if db else name
        if table.catalog or (db and db.lower() not in self._schemas):
            return Relation(display)  # another database or schema: not discovered
        matches = [t for t in self.catalog.tables if t.name.lower() == name.lower()]
        if db:
            matches = [t for t in matches if t.schema_name.lower() == db.lower()]
        elif self.schema and len(matches) > 1:
            preferred = [t for t in matches if t.schema_name.lower() == self.schema.lower()]
            matches = preferred or matches
        if not matches:
            system = _SYSTEM_TABLES.get(self.dialect)
            if system is not None and (system.match(name) or (db and system.match(db))):
                return Relation(display)
            return None
        found = matches[0]
        return Relation(display, tuple((c.name, c.normalized_type) for c in found.columns))


def catalog_for(
    context: CompileContext, spec: ComponentSpec, config: Mapping[str, Any]
) -> tuple[str, Catalog] | None:
    """The catalog of the connection an extract reads, when discovery has one."""
    connection = config.get("connection")
    key = connection if isinstance(connection, str) else f"@{spec.family}"
    catalog = context.catalogs.get(key)
    if catalog is None and spec.family and key == f"@{spec.family}":
        catalog = context.catalogs.get(f"@{spec.family}")
    return (key, catalog) if catalog is not None else None


class UpstreamLookup:
    """A transform's tables: its inputs, with the upstream steps' schemas when known."""

    def __init__(self, available: Mapping[str, str], schemas: Mapping[str, Any]) -> None:
        self.available = {name.lower(): step for name, step in available.items()}
        self.schemas = schemas
        self.known_tables = tuple(sorted(available))

    def __call__(self, table: exp.Table) -> Relation | None:
        step = self.available.get(table.name.lower())
        if step is None:
            return Relation(table.name)  # SQL405 has been reported for it
        columns = self.schemas.get(step)
        return Relation(step, tuple(columns) if columns is not None else None)


# ---- offsets: the bound SQL vs the text in the file -----------------------------------


class OffsetMap:
    """Maps offsets in the SQL as bound (params substituted) to offsets in the file's text.

    `regions` are the (start, end) of each substituted value in the bound text, with the
    `${params.x}` it came from.
    """

    def __init__(
        self, pieces: list[tuple[int, int, int, int]], regions: list[tuple[int, int, str]]
    ):
        self.pieces = pieces  # (bound_start, bound_end, source_start, source_end)
        self.regions = regions

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        return cls([(0, length, 0, length)], [])

    def start(self, offset: int) -> int:
        for b_start, b_end, s_start, s_end in self.pieces:
            if b_start <= offset < b_end or (b_start == b_end == offset):
                return min(s_start + (offset - b_start), max(s_end - 1, s_start))
        return self.pieces[-1][3] if self.pieces else offset

    def end(self, offset: int) -> int:
        """Map an exclusive end offset."""
        return max(self.start(max(offset - 1, 0)) + 1, 0)

    def span(self, span: tuple[int, int]) -> tuple[int, int]:
        return (self.start(span[0]), self.end(span[1]))


def offset_map(program: Program, path: str, bound: str) -> OffsetMap:
    template = program.templates.get(path)
    node = program.node(path)
    if template is None or not isinstance(node, Scalar):
        return OffsetMap.identity(len(bound))
    pieces: list[tuple[int, int, int, int]] = []
    regions: list[tuple[int, int, str]] = []
    b = s = 0
    for part in template.parts:
        if isinstance(part, str):
            refs_after = [r for r in template.references if r.span.start >= s]
            s_end = refs_after[0].span.start if refs_after else len(node.text)
            pieces.append((b, b + len(part), s, max(s_end, s)))
            b, s = b + len(part), s_end
        elif isinstance(part, ParamRef) and part.name in program.params:
            value = param_text(program.params[part.name])
            # every offset inside the value maps onto the whole `${params.x}`
            pieces.extend(
                (b + i, b + i + 1, part.span.start, part.span.end) for i in range(len(value))
            )
            regions.append((b, b + len(value), str(part)))
            b, s = b + len(value), part.span.end
        else:
            return OffsetMap.identity(len(bound))
    if b != len(bound):
        return OffsetMap.identity(len(bound))
    return OffsetMap(pieces, regions)


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
def _canonical_text(
    text: str,
    dialect: str,
    role: str,
    regions: tuple[tuple[int, int, str], ...],
    trusted: frozenset[str] = frozenset(),
) -> str:
    tree = check_sql(text, dialect, role, trusted).tree
    return canonical_sql(tree, dialect, regions) if tree is not None else ""


# ---- the pass -------------------------------------------------------------------------


def sql(program: Program, context: CompileContext) -> Program:
    """Check every SQL field; fill `program.sql`, `program.lineage`, `program.column_types`."""
    pipeline = program.pipeline
    registry = context.registry
    if pipeline is None or registry is None:
        return program
    by_id = {step.id: step for step in pipeline.steps}
    ordered = [*program.order, *(s.id for s in pipeline.steps if s.id not in program.order)]
    schemas = _Schemas()
    for step_id in ordered:
        step = by_id.get(step_id)
        if step is None or step_id in program.broken:
            continue
        spec = registry.get(step.component)
        if spec is None:
            continue
        config = program.configs.get(step_id, {})
        path = program.step_path(step_id)
        for sql_field in spec.sql_fields:
            text = config.get(sql_field.field)
            if not isinstance(text, str):
                continue
            field_path = pointer(f"{path}/config", sql_field.field)
            _check_field(program, context, step_id, spec, sql_field, text, field_path, schemas)
        extract = any(f.role == "extract" for f in spec.sql_fields)
        if extract and not any(isinstance(config.get(f.field), str) for f in spec.sql_fields):
            _table_extract(program, context, step_id, spec, config, path, schemas)
    return program


@dataclass
class _Schemas:
    """What the pass learned of each step's output, in step order."""

    #: step id -> output columns (name, type), when every name is known
    outputs: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    #: steps whose output a catalog vouches for: only these make downstream checks strict
    vouched: set[str] = field(default_factory=set)


def _check_field(
    program: Program,
    context: CompileContext,
    step_id: str,
    spec: ComponentSpec,
    sql_field: SqlField,
    text: str,
    path: str,
    schemas: _Schemas,
) -> None:
    role, dialect = sql_field.role, sql_field.dialect
    config = program.configs.get(step_id, {})
    offsets = offset_map(program, path, text)

    def report(problem: Problem) -> None:
        offset = offsets.span(problem.span) if problem.span is not None else None
        program.report(
            problem.code,
            problem.message,
            path,
            offset=offset,
            hint=problem.hint,
            suggestions=problem.suggestions,
            step=step_id,
        )

    checked = check_sql(text, dialect, role, trusted_functions(program))
    problems = list(checked.problems)
    if checked.parsed is not None:
        problems += check_param_values(text, dialect, offsets.regions)
    available = upstream_tables(program, step_id) if role == "transform" else {}
    if checked.parsed is not None and role == "transform":
        reported = {(p.code, p.span) for p in problems}
        problems += [
            p
            for p in check_transform_tables(checked.parsed, available)
            if (p.code, p.span) not in reported
        ]
    for problem in sorted(problems, key=lambda p: p.span or (0, 0)):
        report(problem)
    tree = checked.parsed
    if tree is None or problems:
        return
    if role == "transform":
        upstream = set(available.values())
        vouched = upstream <= schemas.vouched
        lookup: Lookup = UpstreamLookup(available, schemas.outputs)
        analysis = analyze(tree, lookup, check_columns=vouched,
                           where="the transform's inputs", dialect=dialect)  # fmt: skip
    else:
        found = catalog_for(context, spec, config)
        if found is not None:
            schema = config.get("schema")
            lookup = CatalogLookup(found[1], dialect, schema if isinstance(schema, str) else None)
        else:
            lookup = NoCatalog()
        analysis = analyze(tree, lookup, check_columns=found is not None,
                           where=found[0] if found else "the source", dialect=dialect)  # fmt: skip
        vouched = found is not None
    for problem in analysis.problems:
        report(problem)
    if analysis.problems:
        return
    engine_outputs = None
    if role == "transform" and dialect == "duckdb":
        bound = _bind_in_duckdb(text, tree, available, schemas)
        for problem in bound.problems:
            report(problem)
        if bound.problems:
            return
        engine_outputs = bound.outputs
    canonical = _canonical_text(
        text, dialect, role, tuple(offsets.regions), trusted_functions(program)
    )
    program.sql.setdefault(step_id, {})[sql_field.field] = SqlUnit(
        field=sql_field.field,
        dialect=dialect,
        role=role,
        text=text,
        canonical=canonical,
        tables=analysis.tables,
        written=canonical,
    )
    _record_outputs(program, step_id, analysis.outputs, analysis.lineage, schemas, vouched)
    if analysis.outputs is None and engine_outputs:
        # DuckDB knows the columns sqlglot could not resolve: downstream binds use them
        schemas.outputs[step_id] = list(engine_outputs)


def _bind_in_duckdb(
    text: str, tree: exp.Expr, available: Mapping[str, str], schemas: _Schemas
) -> Bound:
    """The transform bound by DuckDB over its inputs' columns: as written, then as run.

    The second bind is of the text the runtime sends (sqlglot's rendering): if only that
    one fails, the rendering changed the query, which is Osiris's bug, not the author's.
    """
    tables: dict[str, list[tuple[str, str | None]] | None] = {}
    for name, step in available.items():
        columns = schemas.outputs.get(step)
        distinct = columns is not None and len({c.lower() for c, _ in columns}) == len(columns)
        tables[name] = list(columns) if columns is not None and distinct else None
    bound = bind_transform(text, tables)
    if bound.problems:
        return bound
    rendered = render_canonical(tree, "duckdb")
    again = bind_transform(rendered, tables)
    if again.problems:
        problem = again.problems[0]
        return Bound(
            (
                Problem(
                    "SQL412",
                    f"DuckDB refuses the query as Osiris would run it: {problem.message}",
                    hint="this is a bug in Osiris's SQL rendering: please report it with "
                    "the query; rewriting the expression differently avoids it",
                ),
            )
        )
    return bound


def _record_outputs(
    program: Program,
    step_id: str,
    outputs: list[tuple[str, str | None]] | None,
    lineage: dict[str, list[str]] | None,
    schemas: _Schemas,
    vouched: bool,
) -> None:
    if outputs is None:
        return
    if lineage is not None:
        program.lineage[step_id] = lineage
    types = {name: kind for name, kind in outputs if kind is not None}
    if types:
        program.column_types[step_id] = types
    schemas.outputs[step_id] = outputs
    if vouched:
        schemas.vouched.add(step_id)


def trusted_functions(program: Program) -> frozenset[str]:
    """The function names the pipeline vouches for (`trusted_functions:`), folded."""
    pipeline = program.pipeline
    names = pipeline.trusted_functions if pipeline is not None else []
    return frozenset(_fold(name) for name in names)


def upstream_tables(program: Program, step_id: str) -> dict[str, str]:
    """Names a transform may read → upstream step id (the wiring pass decided them)."""
    return program.tables.get(step_id, {})


def _table_extract(
    program: Program,
    context: CompileContext,
    step_id: str,
    spec: ComponentSpec,
    config: Mapping[str, Any],
    path: str,
    schemas: _Schemas,
) -> None:
    """A `table:` (+ `columns:`) extract: check both against the catalog; record lineage."""
    table = config.get("table")
    if not isinstance(table, str) or spec.family is None:
        return
    columns = config.get("columns")
    wanted = [c for c in columns if isinstance(c, str)] if isinstance(columns, list) else None
    schema = config.get("schema")
    display = f"{schema}.{table}" if isinstance(schema, str) else table
    found = catalog_for(context, spec, config)
    if found is None:
        if wanted is not None:
            traced = {c: [f"{display}.{c}"] for c in wanted}
            _record_outputs(program, step_id, [(c, None) for c in wanted], traced, schemas, False)
        return
    where, catalog = found
    lookup = CatalogLookup(
        catalog, _family_dialect(spec), schema if isinstance(schema, str) else None
    )
    node = exp.Table(
        this=exp.to_identifier(table),
        db=exp.to_identifier(schema) if isinstance(schema, str) else None,
    )
    relation = lookup(node)
    if relation is None:
        suggestions = did_you_mean(table, lookup.known_tables)
        program.report(
            "SQL407",
            f"unknown table '{display}' in {where}",
            f"{path}/config/table",
            suggestions=suggestions,
            hint=None if suggestions else "tables: " + ", ".join(lookup.known_tables[:20]),
            step=step_id,
        )
        return
    if relation.columns is None:
        return
    outputs: list[tuple[str, str | None]] = []
    lineage: dict[str, list[str]] = {}
    for index, name in enumerate(
        wanted if wanted is not None else [c[0] for c in relation.columns]
    ):
        column = relation.find(name)
        if column is None:
            pool = [c[0] for c in relation.columns]
            program.report(
                "SQL408",
                f"table '{display}' has no column '{name}'",
                f"{path}/config/columns/{index}",
                suggestions=did_you_mean(name, pool),
                hint=None if did_you_mean(name, pool) else "columns: " + ", ".join(pool[:30]),
                step=step_id,
            )
            continue
        outputs.append((name, column[1]))
        lineage[name] = [f"{display}.{column[0]}"]
    if step_id in program.broken:
        return
    _record_outputs(program, step_id, outputs, lineage, schemas, vouched=True)


def _family_dialect(spec: ComponentSpec) -> str:
    extract = [f.dialect for f in spec.sql_fields if f.role == "extract"]
    return extract[0] if extract else "postgres"
