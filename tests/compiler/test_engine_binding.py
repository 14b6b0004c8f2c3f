"""SQL confirmed by the engine that runs it: DuckDB binds transforms at compile time, and
an operator pair sqlglot would join is refused before it reaches a server."""

from __future__ import annotations

from compiler.compile import check, default_context
from compiler.diagnostics import Diagnostic

HEAD = 'oml_version: "0.1.0"\nname: engine\nsteps:\n'


def transform(step_id: str, query: str, needs: str = "") -> str:
    wiring = f"    needs: [{needs}]\n" if needs else ""
    return (
        f"  - id: {step_id}\n    component: duckdb.processor\n    mode: transform\n{wiring}"
        f"    config:\n      query: |\n        {query}\n"
    )


def extract(query: str, step_id: str = "extract-movies") -> str:
    return (
        f"  - id: {step_id}\n    component: mysql.extractor\n    mode: read\n"
        f"    config:\n      query: |\n        {query}\n"
    )


def column_of(query: str, word: str) -> int:
    """The file column of `word` in a query written by the helpers above (indent 8)."""
    return 9 + query.index(word)


def diagnostics(*steps: str) -> list[Diagnostic]:
    return check(HEAD + "".join(steps), default_context()).diagnostics


def codes(*steps: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.column) for d in diagnostics(*steps)]


def test_an_operator_written_apart_is_refused_where_it_stands() -> None:
    query = "SELECT movie_id FROM movies WHERE budget > > 10"
    found = diagnostics(extract(query))
    start = column_of(query, "> >")
    assert [(d.code, d.line, d.column, d.end_column) for d in found] == [
        ("SQL400", 9, start, start + 3)
    ]
    assert "'> >' is two operators" in found[0].message
    # written as one operator it is MySQL's shift, and stays what the author wrote
    assert codes(extract("SELECT movie_id, flags >> 2 AS f FROM movies")) == []
    assert codes(extract("SELECT movie_id FROM movies WHERE a < > b")) != []


def test_a_hyphenated_upstream_binds_under_all_three_names() -> None:
    source = extract("SELECT movie_id, title FROM movies")
    for name in ('"extract-movies"', "df_extract_movies"):
        query = f"SELECT title FROM {name} WHERE movie_id > 1"
        assert codes(source, transform("t", query, "extract-movies")) == []
    wrong = transform("t", "SELECT titel FROM df_extract_movies", "extract-movies")
    [found] = diagnostics(source, wrong)
    assert (found.code, found.line, found.column, found.suggestions) == (
        "SQL408",
        16,
        column_of("SELECT titel FROM df_extract_movies", "titel"),
        ("title",),
    )


def test_downstream_transforms_bind_against_duckdbs_own_output_columns() -> None:
    counted = transform(
        "counted", "SELECT k, count(*) FROM (VALUES ('a'), ('b')) AS t(k) GROUP BY k"
    )
    good = transform("after", 'SELECT "count_star()" AS n, k FROM counted', "counted")
    assert codes(counted, good) == []
    bad = transform("after", "SELECT n FROM counted", "counted")
    assert [c for c, _, _ in codes(counted, bad)] == ["SQL408"]


def test_a_pivot_whose_columns_depend_on_the_data_is_refused() -> None:
    sales = transform("sales", "SELECT * FROM (VALUES ('a', 2024, 1)) AS t(k, yr, v)")
    dynamic = transform("wide", "SELECT * FROM (PIVOT sales ON yr USING sum(v))", "sales")
    [found] = diagnostics(sales, dynamic)
    assert (found.code, found.message) == (
        "SQL402",
        "DuckDB reads the query as MULTI, not one SELECT",
    )
    listed = transform(
        "wide", "SELECT * FROM (PIVOT sales ON yr IN (2024, 2025) USING sum(v))", "sales"
    )
    pick = transform("pick", 'SELECT k, "2023" FROM wide', "wide")
    [found] = diagnostics(sales, listed, pick)
    assert (found.code, found.suggestions) == ("SQL408", ("2024", "2025"))


def test_a_type_error_is_reported_only_when_every_input_type_is_known() -> None:
    typed = transform("t", "SELECT sum(label) AS s FROM (VALUES ('x')) AS v(label)")
    assert [c for c, _, _ in codes(typed)] == ["SQL412"]
    # the extract's column types are unknown without a catalog: no type error from them
    source = extract("SELECT movie_id, title FROM movies")
    untyped = transform("t", "SELECT sum(title) AS s FROM df_extract_movies", "extract-movies")
    assert codes(source, untyped) == []


def test_mysql_syntax_in_a_transform_is_a_duckdb_syntax_error() -> None:
    query = "SELECT x FROM range(10) AS r(x) ORDER BY x LIMIT 2, 3"
    found = diagnostics(transform("t", query))
    assert [(d.code, d.line, d.column) for d in found] == [("SQL400", 9, column_of(query, ","))]
    assert found[0].message.startswith("SQL syntax error (DuckDB)")


def test_binding_reads_no_file_even_for_a_query_the_checks_would_miss() -> None:
    # the binding connection has no file system: the engine refuses even if a check slipped
    from compiler.sql.engine import bind_transform

    for query in ("SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM '/etc/passwd'"):
        [problem] = bind_transform(query, {}).problems
        assert problem.code == "SQL412"
        assert "passwd" in problem.message and "root:" not in problem.message
