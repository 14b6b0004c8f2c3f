"""What a query may not call: per-dialect functions and table functions, and why.

An allow-list, not a deny-list: sqlglot's typed functions whose expressions are known to
be free of side effects, plus a reviewed list of anonymous ones; every other function is
refused (SQL403) unless the pipeline vouches for it in `trusted_functions:`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

import sqlglot.expressions as exp
from sqlglot.tokenizer_core import TokenType

if TYPE_CHECKING:
    pass


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
    key = fold_name(name)
    if key in SAFE_FUNCTIONS.get(dialect, frozenset()) or key in trusted:
        return False
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:  # schema.function()
        return f"{fold_name(parent.this.name)}.{key}" not in trusted
    return True


def forbidden_function(name: str, dialect: str) -> Forbidden | None:
    """Why a function may not be called in `dialect`, or None when it may."""
    key = fold_name(name)
    found = FORBIDDEN_FUNCTIONS.get(key)
    if found is None:
        found = next((why for prefix, why in _FORBIDDEN_PREFIXES if key.startswith(prefix)), None)
    if found is not None and found.dialects is not None and dialect not in found.dialects:
        return None
    return found


def fold_name(name: str) -> str:
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


def allowed_kind(kind: type[exp.Expr]) -> bool:
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
QUERY_START = frozenset(
    {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.L_PAREN, TokenType.TABLE,
     TokenType.FROM}
)  # fmt: skip
SECOND_WORD = frozenset(
    {"DATA", "XML", "ANALYZE", "TABLE", "TABLES", "DATABASE", "EXTENSION", "SECRET", "INDEX",
     "VIEW", "SCHEMA", "PROCEDURE", "FUNCTION"}
)  # fmt: skip
FILE_NAME = re.compile(
    r"(://|/|\\|\.(csv|tsv|parquet|json|jsonl|ndjson|txt|gz|zst|xlsx|db)$)", re.I
)
ROOTS = (exp.Select, exp.SetOperation, exp.Values, exp.Subquery)
