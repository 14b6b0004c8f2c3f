"""What Spark SQL has no equivalent for, or may answer otherwise: one pass over the
DuckDB tree that refuses a construct (SQL415, at the construct, with what to write
instead) and cautions where the answer may differ with the data (SQL416, a warning).
Each refusal is measured: tests/compiler/test_spark_semantics.py runs the construct, as
sqlglot alone transpiles it, in both engines and sees it break or differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import sqlglot.expressions as exp

from compiler.sql.problem import Problem
from compiler.sql.spark_dates import (
    FORMAT_CODE,
    FORMAT_CODES,
    PARSE_CODES,
    date_unit,
    java_pattern,
    spark_part,
)
from compiler.sql.spark_nodes import (
    NO_EQUIVALENT,
    call_span,
    function_name,
    is_text,
    literal_number,
    refused,
)
from compiler.sql.spark_series import series_refusal
from compiler.sql.spark_types import INTEGERS, REFUSED_TYPES, TYPE_SPELLINGS, Kinds, Types

#: DuckDB functions (as sqlglot leaves them: anonymous, by lower-case name) that Spark
#: lacks or computes otherwise, each with what to write instead.
REFUSED_FUNCTIONS: Mapping[str, str] = {
    "age": "write date_diff('day', a, b) or the parts you need",
    "array_zip": "zip the lists another way",
    "decade": "write year(x) // 10 * 10",
    "epoch_ns": "write date_diff('microsecond', TIMESTAMP '1970-01-01', x)",
    "epoch_us": "write date_diff('microsecond', TIMESTAMP '1970-01-01', x)",
    "era": "leave it out",
    "even": "write the rounding out",
    "favg": "write avg()",
    "fsum": "write sum()",
    "gamma": "compute it otherwise",
    "gcd": "compute it otherwise",
    "generate_subscripts": "write range over the list's length",
    "hash": "Spark's hash() is another function (32-bit murmur3): write md5() or sha256()",
    "histogram": "write a GROUP BY with count(*)",
    "ilike_escape": "write ILIKE ... ESCAPE",
    "isfinite": "write x IS NOT NULL AND NOT isnan(x) AND abs(x) < 'Infinity'::DOUBLE",
    "jaccard": "compute it otherwise",
    "jaro_similarity": "compute it otherwise",
    "json_contains": "compare the extracted values",
    "json_group_array": "write list() and format it",
    "json_group_object": "format the object another way",
    "json_structure": "leave it out",
    "json_transform": "extract the fields with json_extract",
    "json_valid": "leave it out",
    "lcm": "compute it otherwise",
    "lgamma": "compute it otherwise",
    "like_escape": "write LIKE ... ESCAPE",
    "list_aggregate": "aggregate before building the list",
    "list_position": "Spark answers 0 where DuckDB answers NULL: compute the position otherwise",
    "list_reduce": "aggregate before building the list",
    "list_slice": "write the elements you need",
    "list_unique": "write len(list_distinct(x))",
    "list_zip": "zip the lists another way",
    "map_extract": "write m[key]",
    "microsecond": "write date_part('second', x) and the fraction you need",
    "millisecond": "write date_part('second', x) and the fraction you need",
    "mismatches": "compute it otherwise",
    "nextafter": "compute it otherwise",
    "ord": "write ascii()",
    "prefix": "write starts_with(s, p)",
    "product": "write exp(sum(ln(x))) for positive values",
    "regexp_split_to_array": "write string_split_regex",
    "reservoir_quantile": "write quantile_cont",
    "signbit": "write x < 0",
    "stats": "leave it out",
    "strip_accents": "compute it otherwise",
    "suffix": "write ends_with(s, p)",
    "sum_no_overflow": "write sum()",
    "timezone": "convert with AT TIME ZONE in an upstream step",
    "to_hours": "write INTERVAL (n) HOUR",
    "to_json": "Spark writes JSON differently: format the text explicitly",
    "to_minutes": "write INTERVAL (n) MINUTE",
    "to_seconds": "write INTERVAL (n) SECOND",
    "transaction_timestamp": "write current_timestamp",
    "try_strptime": "write strptime (a value it cannot read fails the query in both)",
    "yearweek": "write year(x) * 100 + week(x)",
}

#: sqlglot's typed functions whose Spark form computes something else.
_REFUSED_KINDS: Mapping[type[exp.Expr], tuple[str, str]] = {
    exp.Format: ("format() (DuckDB's {} placeholders; Spark's format_string is printf)",
                 "write printf('%s', x), which both read alike"),
    exp.Typeof: ("typeof() (the engines name their types differently)", "leave it out"),
    exp.TimeToUnix: ("epoch() (DuckDB counts fractional seconds, Spark whole seconds)",
                     "write date_diff('second', TIMESTAMP '1970-01-01', x)"),
    exp.Columns: ("COLUMNS()", "list the columns"),
    exp.SimilarTo: ("SIMILAR TO", "write regexp_matches(x, '^(...)$')"),
    exp.Glob: ("GLOB", "write LIKE with % and _"),
    exp.Comprehension: ("a list comprehension", "write list_transform(l, lambda x: ...)"),
    exp.Slice: ("a slice [a:b]", "write substr() for text"),
}  # fmt: skip


class Reading(Kinds):
    """The refusals of one DuckDB query, and the cautions it gathers on the way; the
    kinds it knows (its inputs' types) are the rewrites' too."""

    def __init__(self, sql: str, types: Types) -> None:
        super().__init__(types)
        self.sql = sql
        self.cautions: list[Problem] = []

    # -- refusals -----------------------------------------------------------------------------

    def refusals(self, tree: exp.Expr) -> Iterator[Problem]:
        stack = [tree]
        while stack:
            node = stack.pop()
            problem = self._refusal(node)
            if problem is not None:
                yield problem
                continue  # one finding per construct
            self._caution(node)
            stack.extend(reversed(list(node.iter_expressions())))

    def span(self, node: exp.Expr) -> tuple[int, int] | None:
        return call_span(self.sql, node)

    def written(self, node: exp.Expr) -> str:
        """A function's name as the query writes it (`list`, which sqlglot calls array_agg)."""
        span = self.span(node)
        word = re.match(r"[A-Za-z_]\w*", self.sql[span[0] :]) if span is not None else None
        if word is not None:
            return word.group().lower()
        return node.sql_name().lower() if isinstance(node, exp.Func) else node.key

    def _refusal(self, node: exp.Expr) -> Problem | None:
        span = self.span(node)
        for kind, (what, hint) in _REFUSED_KINDS.items():
            if isinstance(node, kind):
                return refused(f"{what}: {NO_EQUIVALENT}", span, hint)
        if isinstance(node, exp.Anonymous):
            instead = REFUSED_FUNCTIONS.get(function_name(node))
            if instead is not None:
                return refused(f"{function_name(node)}(): {NO_EQUIVALENT}", span, instead)
            if function_name(node) in ("date_part", "datepart") and not self._part_ok(node):
                return refused(
                    f"{function_name(node)}() of this part: {NO_EQUIVALENT}", span,
                    "write year, quarter, month, day, hour, minute, second, dow, isodow, "
                    "week, doy or isoyear as a quoted literal",
                )  # fmt: skip
            if function_name(node) in ("date_sub", "datesub"):
                return refused(
                    f"{function_name(node)}(): DuckDB and Spark count whole months differently at "
                    "the end of a month",
                    span,
                    "write date_diff(part, a, b), which counts the boundaries crossed",
                )
        if isinstance(node, exp.DataType) and node.this in REFUSED_TYPES:
            name = REFUSED_TYPES[node.this]
            span = span or self._type_span(node, name)
            return refused(
                f"the type {name}: {NO_EQUIVALENT}",
                span,
                "cast to BIGINT, DECIMAL(38, 0), VARCHAR or TIMESTAMP instead",
            )
        if isinstance(node, exp.Join) and node.args.get("method") in ("ASOF", "POSITIONAL"):
            method = node.args["method"]
            return refused(
                f"{method} JOIN: {NO_EQUIVALENT}",
                self.span(node.this),
                "write a JOIN ... ON with row_number() or a window",
            )
        if isinstance(node, exp.SetOperation) and node.args.get("by_name"):
            keyword = re.compile(r"\bBY\s+NAME\b", re.IGNORECASE).search(self.sql)
            return refused(
                "UNION BY NAME: Spark's parser has no BY NAME",
                (keyword.start(), keyword.end()) if keyword else span,
                "list the columns in the same order in every SELECT",
            )
        if isinstance(node, exp.Star) and (node.args.get("replace") or node.args.get("rename")):
            which = "REPLACE" if node.args.get("replace") else "RENAME"
            return refused(
                f"SELECT * {which}: {NO_EQUIVALENT}",
                span,
                "list the columns, with the changed ones as expressions",
            )
        if isinstance(node, (exp.TimeToStr, exp.StrToTime)):
            return self._format_refusal(node, span)
        if isinstance(node, exp.RegexpReplace):
            return self._regexp_replace_refusal(node, span)
        if isinstance(node, exp.RegexpLike) and node.args.get("flag") is not None:
            if not (is_text(node.args["flag"]) and node.args["flag"].name == "i"):
                return refused(
                    "regexp_matches() with these options: " + NO_EQUIVALENT,
                    span,
                    "write the option inside the pattern: '(?i)...'",
                )
            if not is_text(node.expression):
                return refused(
                    "regexp_matches() with options and a computed pattern",
                    span,
                    "write the option inside the pattern: '(?i)...'",
                )
        if isinstance(node, (exp.Like, exp.ILike)) and not isinstance(node.parent, exp.Escape):
            pattern = node.expression
            if is_text(pattern) and "\\" in pattern.name:
                return refused(
                    "a LIKE pattern with a backslash: DuckDB reads it as itself, Spark as "
                    "an escape",
                    self.span(pattern),
                    "name the escape for both: LIKE '...' ESCAPE '!'",
                )
        if isinstance(node, (exp.ArgMax, exp.ArgMin)):
            if node.args.get("count") is not None:
                return refused(
                    f"{self.written(node)}() with a count: {NO_EQUIVALENT}",
                    span,
                    "write list() with ORDER BY over a window",
                )
            if isinstance(node.parent, exp.Window):
                return refused(
                    f"{self.written(node)}() over a window: Spark cannot skip its NULL "
                    "values there as DuckDB does",
                    span,
                    "aggregate in a GROUP BY, or write first_value() with IGNORE NULLS",
                )
        aggregate = node.parent
        if (
            isinstance(node, exp.Order)
            and isinstance(aggregate, exp.AggFunc)
            and not isinstance(aggregate, exp.GroupConcat)  # string_agg keeps it (WITHIN GROUP)
        ):
            return refused(
                f"ORDER BY inside {self.written(aggregate)}(): Spark's form keeps no order",
                self.span(aggregate),
                "sort after aggregating (list_sort), or order with a window",
            )
        if isinstance(node, (exp.PercentileCont, exp.PercentileDisc, exp.Quantile)):
            fraction = node.args.get("quantile") or node.expression
            if isinstance(node.parent, exp.WithinGroup):
                fraction = node.this
            if fraction is not None and literal_number(fraction) is None:
                return refused(
                    "a quantile of more than one fraction: " + NO_EQUIVALENT,
                    span,
                    "write one quantile per column",
                )
        if isinstance(node, exp.DateDiff) and date_unit(node.args.get("unit")) is None:
            return refused(
                "date_diff() in this unit: " + NO_EQUIVALENT,
                span,
                "write year, quarter, month, week, day, hour, minute or second",
            )
        if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
            return series_refusal(self, node.this, span)
        if isinstance(node, exp.GenerateSeries) and not isinstance(node.parent, exp.Table):
            return series_refusal(self, node, span)  # a list
        return None

    def _type_span(self, node: exp.DataType, name: str) -> tuple[int, int] | None:
        """Where the type is written: sqlglot keeps no position for a type."""
        around = self.span(node.parent) if node.parent is not None else None
        start = around[0] if around is not None else 0
        pattern = TYPE_SPELLINGS.get(name, re.escape(name))
        found = re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE).search(self.sql, start)
        return (found.start(), found.end()) if found is not None else around

    def _part_ok(self, node: exp.Anonymous) -> bool:
        if len(node.expressions) != 2 or not is_text(node.expressions[0]):
            return False
        return spark_part(node.expressions[0].name, node.expressions[1]) is not None

    def _format_refusal(self, node: exp.Expr, span: tuple[int, int] | None) -> Problem | None:
        name = "strftime" if isinstance(node, exp.TimeToStr) else "strptime"
        value, format_ = node.this, node.args.get("format")
        if name == "strftime" and is_text(value) and not is_text(format_):
            return refused(
                "strftime(format, value): Spark reads the value first",
                span,
                "write strftime(value, format)",
            )
        if not isinstance(format_, exp.Literal) or not format_.is_string:
            return refused(
                f"{name}() with a computed format: Spark reads another format language",
                span,
                "write the format as a literal",
            )
        codes = FORMAT_CODES if name == "strftime" else PARSE_CODES
        if java_pattern(format_.name, codes) is None:
            unknown = sorted({c for c in FORMAT_CODE.findall(format_.name) if c not in codes})
            written = "'" + format_.name.replace("'", "''") + "'"
            at = self.sql.find(written, span[0] if span else 0)
            return refused(
                f"{name}() format code {', '.join(unknown)}: {NO_EQUIVALENT}",
                (at, at + len(written)) if at >= 0 else span,
                "Spark knows " + " ".join(sorted(codes)),
            )
        return None

    def _regexp_replace_refusal(
        self, node: exp.RegexpReplace, span: tuple[int, int] | None
    ) -> Problem | None:
        modifiers = node.args.get("modifiers")
        if modifiers is None:
            return refused(
                "regexp_replace() without 'g' replaces the first match in DuckDB; Spark's "
                "replaces every match",
                span,
                "add 'g' as the fourth argument (every match, in both engines)",
            )
        flags = modifiers.name if is_text(modifiers) else None
        if flags is None or "g" not in flags or set(flags) - {"g", "i"}:
            return refused(
                "regexp_replace() with these options: " + NO_EQUIVALENT,
                span,
                "use 'g', and write other options inside the pattern: '(?i)...'",
            )
        if "i" in flags and not is_text(node.expression):
            return refused(
                "regexp_replace() with 'i' and a computed pattern",
                span,
                "write the option inside the pattern: '(?i)...'",
            )
        return None

    # -- cautions -----------------------------------------------------------------------------

    def _caution(self, node: exp.Expr) -> None:
        if isinstance(node, exp.ArrayAgg) and not _skips_nulls_of(node):
            self.cautions.append(
                Problem(
                    "SQL416",
                    f"{self.written(node)}() keeps NULL values in DuckDB; Spark's "
                    "collect_list leaves them out",
                    self.span(node),
                    f"add FILTER (WHERE {node.this.sql('duckdb')} IS NOT NULL) so both agree",
                )
            )
        if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.this in INTEGERS:
            kind = self.kind(node.this)
            if kind not in ("integer", "boolean", "decimal", "float", "null"):
                shown = node.this.sql("duckdb")
                self.cautions.append(
                    Problem(
                        "SQL416",
                        f"a CAST of {shown} to an integer type: DuckDB rounds a fraction to "
                        "the nearest integer, Spark truncates it"
                        + (" (and refuses text such as '2.5')" if kind == "string" else ""),
                        self.span(node),
                        f"if {shown} can hold a fraction, write CAST(round({shown}) AS ...)",
                    )
                )


def _skips_nulls_of(node: exp.Expr) -> bool:
    """Whether an aggregate sits under a FILTER that keeps only non-NULL arguments."""
    parent = node.parent
    if not isinstance(parent, exp.Filter):
        return False
    return any(
        isinstance(test.this, exp.Is) and test.this.this == node.this
        for test in parent.find_all(exp.Not)
    )
