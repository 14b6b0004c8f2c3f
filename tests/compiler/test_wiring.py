"""`needs` carries data: which upstream tables a step reads, and by which names."""

from __future__ import annotations

import hashlib

import yaml

from compiler.compile import check, default_context
from compiler.emit import compile_source

HEAD = 'oml_version: "0.1.0"\nname: demo\nsteps:\n'
MOVIES = (
    "  - {id: extract-movies, component: filesystem.csv_extractor, mode: read,\n"
    "     config: {path: movies.csv}}\n"
)


def transform(step_id: str, query: str, extra: str = "") -> str:
    return (
        f"  - id: {step_id}\n    component: duckdb.processor\n    mode: transform\n{extra}"
        f'    config: {{query: "{query}"}}\n'
    )


def diagnostics(source: str) -> list[tuple[str, str, str]]:
    program = check(source, default_context())
    return [(d.code, d.severity, d.message) for d in program.diagnostics]


def tables(source: str, step_id: str) -> dict[str, str]:
    program = check(source, default_context())
    assert not program.has_errors, program.diagnostics
    return program.tables[step_id]


def test_a_hyphenated_need_is_read_as_df_with_underscores() -> None:
    source = (
        HEAD
        + MOVIES
        + transform("top", "SELECT * FROM df_extract_movies", "    needs: [extract-movies]\n")
    )

    assert diagnostics(source) == []
    assert tables(source, "top") == {
        "df_extract_movies": "extract-movies",
        "extract-movies": "extract-movies",
    }


def test_a_need_is_readable_by_step_id_and_an_input_by_its_name_too() -> None:
    source = (
        HEAD + MOVIES + "  - {id: people, component: filesystem.csv_extractor, mode: read,\n"
        "     config: {path: p.csv}}\n"
        + transform(
            "joined",
            'SELECT * FROM \\"extract-movies\\" JOIN cast_list USING (id)',
            '    needs: [extract-movies]\n    inputs: {cast_list: "${people.df}"}\n',
        )
    )

    assert diagnostics(source) == []
    assert tables(source, "joined") == {
        "cast_list": "people",
        "df_extract_movies": "extract-movies",
        "df_people": "people",
        "extract-movies": "extract-movies",
        "people": "people",
    }


def test_ids_that_sanitize_alike_each_get_a_hash_suffix() -> None:
    def suffix(step_id: str) -> str:
        return hashlib.sha256(step_id.encode()).hexdigest()[:8]

    both = (
        "  - {id: a-b, component: filesystem.csv_extractor, mode: read, config: {path: x.csv}}\n"
        "  - {id: a_b, component: filesystem.csv_extractor, mode: read, config: {path: y.csv}}\n"
    )
    query = f"SELECT * FROM df_a_b_{suffix('a-b')} UNION ALL SELECT * FROM df_a_b_{suffix('a_b')}"
    source = HEAD + both + transform("u", query, "    needs: [a-b, a_b]\n")

    assert diagnostics(source) == []
    plain = HEAD + both + transform("u", "SELECT * FROM df_a_b", "    needs: [a-b, a_b]\n")
    [(code, severity, message)] = diagnostics(plain)
    assert (code, severity) == ("SQL405", "error")
    assert message == (
        "unknown table 'df_a_b': a transform reads only its inputs "
        f"(a-b, a_b, {', '.join(sorted(f'df_a_b_{suffix(i)}' for i in ('a-b', 'a_b')))})"
    )


def test_an_unnamed_upstream_is_the_previous_step_with_a_warning() -> None:
    source = HEAD + MOVIES + transform("top", "SELECT * FROM df_extract_movies")
    program = check(source, default_context())

    [warning] = program.diagnostics
    assert (warning.code, warning.severity, warning.line, warning.column) == (
        "OML212",
        "warning",
        6,
        9,
    )
    assert (
        warning.message
        == "step 'top' names no upstream: it reads the step before it, 'extract-movies'"
    )
    assert warning.hint == "add the line: needs: [extract-movies]"
    assert program.dependencies["top"] == ("extract-movies",)
    assert not program.has_errors


def test_a_writer_in_needs_only_orders_and_is_skipped_as_the_previous_step() -> None:
    source = (
        HEAD
        + MOVIES
        + "  - {id: save, component: filesystem.csv_writer, mode: write, needs: [extract-movies],\n"
        "     config: {path: out/a.csv}}\n"
        + "  - {id: again, component: filesystem.csv_writer, mode: write,\n"
        "     config: {path: out/b.csv}}\n"
        + "  - {id: last, component: filesystem.csv_writer, mode: write,\n"
        "     needs: [save, extract-movies], config: {path: out/c.csv}}\n"
    )
    program = check(source, default_context())

    assert [(d.code, d.message) for d in program.diagnostics] == [
        ("OML212", "step 'again' names no upstream: it reads the step before it, 'extract-movies'")
    ]
    assert program.upstreams == {
        "save": ("extract-movies",),
        "again": ("extract-movies",),
        "last": ("extract-movies",),
    }


def test_a_writer_takes_one_upstream_table() -> None:
    source = (
        HEAD + "  - {id: w, component: filesystem.csv_writer, mode: write, config: {path: o.csv}}\n"
    )
    assert diagnostics(source) == [
        ("OML308", "error", "filesystem.csv_writer needs an upstream table; step 'w' has none")
    ]


def test_a_transform_with_no_upstream_runs_a_generating_query() -> None:
    for query in (
        "SELECT range AS n FROM range(5)",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)",
    ):
        assert diagnostics(HEAD + transform("gen", query)) == [], query


def test_a_generating_query_is_checked_like_any_transform() -> None:
    codes = [
        d[0] for d in diagnostics(HEAD + transform("gen", "SELECT * FROM read_csv('/etc/passwd')"))
    ]
    assert codes == ["SQL406"]
    [(code, _, message)] = diagnostics(HEAD + transform("gen", "SELECT * FROM customers"))
    assert (code, message) == ("SQL405", "unknown table 'customers': a transform has no upstream")


def test_the_manifest_maps_each_name_to_its_upstream_step() -> None:
    source = (
        HEAD
        + MOVIES
        + transform("top", "SELECT * FROM df_extract_movies", "    needs: [extract-movies]\n")
    )
    result = compile_source(source)
    manifest = yaml.safe_load(result.files["manifest.yaml"])
    step = next(s for s in manifest["steps"] if s["id"] == "top")

    assert step["needs"] == ["extract-movies"]
    assert step["inputs"] == {}
    assert step["tables"] == {
        "df_extract_movies": "extract-movies",
        "extract-movies": "extract-movies",
    }


def test_pushdown_treats_a_needs_upstream_like_an_input() -> None:
    source = (
        HEAD + "  - {id: orders, component: mysql.extractor, mode: read,\n"
        '     config: {query: "SELECT id, total, note FROM orders"}}\n'
        + transform("big", "SELECT id FROM df_orders WHERE total > 100", "    needs: [orders]\n")
    )
    program = check(source, default_context())

    assert [(r["kind"], r["after"]) for r in program.rewrites] == [
        ("projection_pruning", "SELECT id, total FROM orders")
    ]


# ---- names and paths ---------------------------------------------------------------------


def test_a_pipeline_name_is_a_free_label_with_a_warning_on_convention() -> None:
    source = HEAD.replace("name: demo", "name: Orders to the warehouse") + transform(
        "gen", "SELECT 1 AS one"
    )
    assert diagnostics(source) == [
        (
            "OML108",
            "warning",
            "pipeline name 'Orders to the warehouse' is a label, not a folder name: its build "
            "and log folders are named 'Orders_to_the_warehouse'",
        )
    ]


def csv_step(path: str, connection: str = "") -> str:
    extra = f", connection: '{connection}'" if connection else ""
    return (
        "  - {id: read, component: filesystem.csv_extractor, mode: read,\n"
        f"     config: {{path: {path}{extra}}}}}\n"
    )


def path_diagnostics(source: str, bases: dict[str, str]) -> list[tuple[str, str, str | None]]:
    program = check(source, default_context(filesystem_bases=bases))
    return [(d.code, d.message, d.hint) for d in program.diagnostics]


def test_an_absolute_csv_path_under_the_connection_base_dir_is_accepted() -> None:
    bases = {"@filesystem": "/srv/data", "@filesystem.local": "/srv/data", "@filesystem.x": "/x"}
    assert path_diagnostics(HEAD + csv_step("/srv/data/movies.csv"), bases) == []
    assert path_diagnostics(HEAD + csv_step("/x/a.csv", "@filesystem.x"), bases) == []


def test_an_absolute_path_under_another_connection_is_read_through_that_connection() -> None:
    # 0.5.7's rule: a step that names no connection is served by the one holding the file
    bases = {"@filesystem": "/srv/data", "@filesystem.x": "/x"}
    program = check(HEAD + csv_step("/x/in/a.csv"), default_context(filesystem_bases=bases))
    assert program.diagnostics == []
    assert program.configs["read"]["connection"] == "@filesystem.x"
    [(code, _, _)] = path_diagnostics(HEAD + csv_step("/x/.env"), bases)
    assert code == "SEC504"


def test_an_absolute_csv_path_elsewhere_is_refused_with_a_hint() -> None:
    bases = {"@filesystem": "/srv/data", "@filesystem.x": "/x"}
    [(code, message, hint)] = path_diagnostics(HEAD + csv_step("/etc/movies.csv"), bases)
    assert (code, message) == (
        "SEC504",
        "'path' is an absolute path ('/etc/movies.csv') outside the base_dir of @filesystem",
    )
    assert hint is not None and hint.startswith("declare a filesystem connection whose base_dir")
    [(_, _, hint)] = path_diagnostics(HEAD + csv_step("/x/a.csv", "@filesystem"), bases)
    assert hint is not None and hint.startswith("set connection: '@filesystem.x'")
    [(code, _, _)] = path_diagnostics(HEAD + csv_step("/srv/data/../etc/passwd"), bases)
    assert code == "SEC504"


def test_a_writer_whose_inputs_name_its_table_uses_needs_for_order() -> None:
    source = (
        HEAD + MOVIES + "  - {id: other, component: filesystem.csv_extractor, mode: read,\n"
        "     config: {path: o.csv}}\n"
        + "  - {id: w, component: filesystem.csv_writer, mode: write, needs: [other],\n"
        '     inputs: {df: "${extract-movies.df}"}, config: {path: out/w.csv}}\n'
    )
    program = check(source, default_context())

    assert program.diagnostics == []
    assert program.upstreams["w"] == ("extract-movies",)
    assert program.dependencies["w"] == ("extract-movies", "other")
