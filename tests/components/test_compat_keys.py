"""0.5.7 config keys: each works, is rewritten with a warning, or is refused with a hint.

The key lists are facts read from osiris-pipeline 0.5.7's component specs; a key that
is in none of our spec's keys, aliases, ignored keys or migrations would be silently lost.
"""

from __future__ import annotations

import bz2
import lzma
import re
import zipfile
from pathlib import Path

import duckdb
import pytest

from compiler.compile import validate_text
from components.filesystem_csv_extractor.driver import CSVExtractorDriver
from components.protocol import DriverError
from components.registry import default_registry
from tests.components.filectx import FilePlane

REFERENCE_KEYS = {
    "duckdb.processor": "query",
    "filesystem.csv_extractor": "connection path delimiter encoding header columns skip_rows "
    "limit parse_dates dtype na_values chunk_size skip_blank_lines comment compression",
    "filesystem.csv_writer": "path delimiter header encoding newline quoting chunk_size "
    "create_dirs",
    "graphql.extractor": "endpoint query variables headers auth_type auth_token auth_username "
    "auth_header_name timeout max_retries retry_delay pagination_enabled pagination_path "
    "pagination_cursor_field pagination_has_next_field pagination_variable_name max_pages "
    "data_path flatten_result validate_ssl",
    "mysql.extractor": "host port database user password table schema query columns limit "
    "offset batch_size pool_size pool_recycle echo",
    "mysql.writer": "host port database user password table schema mode upsert_keys "
    "batch_size create_table truncate_before pool_size pool_recycle echo",
    "posthog.extractor": "api_key project_id region custom_base_url data_type event_types "
    "lookback_window_minutes initial_since page_size deduplication_enabled",
    "supabase.extractor": "url key project_id table schema select filter order limit offset "
    "timeout retries tables",
    "supabase.writer": "url key project_id table schema write_mode primary_key returning "
    "create_if_missing batch_size timeout retries ddl_channel prefer",
}


@pytest.mark.parametrize("name", sorted(REFERENCE_KEYS))
def test_every_reference_key_has_a_fate(name: str) -> None:
    spec = default_registry().get(name)
    assert spec is not None, f"{name} is a 0.5.7 component"
    handled = (
        set(spec.properties)
        | set(spec.aliases)
        | set(spec.ignored)
        | {m.key for m in spec.migrations}
    )
    assert sorted(set(REFERENCE_KEYS[name].split()) - handled) == []


def _step(component: str, config: str, mode: str = "write") -> str:
    source = (
        'oml_version: "0.1.0"\nname: demo\nsteps:\n'
        "  - {id: src, component: filesystem.csv_extractor, mode: read, config: {path: a.csv}}\n"
        f"  - id: dst\n    component: {component}\n    mode: {mode}\n"
        '    inputs: {df: "${src.df}"}\n'
        f"    config: {config}\n"
    )
    return source


def _codes(source: str) -> list[tuple[str, str, str | None]]:
    return [
        (d.code, d.severity, d.hint) for d in validate_text(source) if d.code.startswith("OML3")
    ]


def test_truncate_before_true_is_a_replace() -> None:
    from compiler.compile import check

    source = _step(
        "mysql.writer", '{connection: "@mysql.main", table: t, mode: append, truncate_before: true}'
    )
    found = [(c, s) for c, s, _ in _codes(source)]
    assert found == [("OML309", "warning"), ("OML309", "warning")]
    configs = check(source).configs
    assert configs["dst"]["write_mode"] == "replace"
    assert "truncate_before" not in configs["dst"]


def test_truncate_before_with_upsert_is_a_contradiction() -> None:
    source = _step(
        "mysql.writer",
        '{connection: "@mysql.main", table: t, write_mode: upsert, primary_key: id,'
        " truncate_before: true}",
    )
    errors = [(c, h) for c, s, h in _codes(source) if s == "error"]
    assert [c for c, _ in errors] == ["OML311"]
    assert "write_mode: replace" in (errors[0][1] or "")


def test_truncate_before_false_has_no_effect() -> None:
    source = _step("mysql.writer", '{connection: "@mysql.main", table: t, truncate_before: false}')
    assert [(c, s) for c, s, _ in _codes(source)] == [("OML310", "warning")]


@pytest.mark.parametrize(
    ("key", "value", "hint_word"),
    [
        ("filter", "{status: active}", "WHERE"),
        ("order", "created_at.desc", "ORDER BY"),
        ("select", '"id,email"', "columns"),
    ],
)
def test_postgrest_keys_are_refused_with_the_sql_to_write(
    key: str, value: str, hint_word: str
) -> None:
    source = (
        'oml_version: "0.1.0"\nname: demo\nsteps:\n  - id: src\n'
        "    component: supabase.extractor\n    mode: read\n"
        f'    config: {{connection: "@supabase.main", table: orders, {key}: {value}}}\n'
    )
    errors = [(c, h) for c, s, h in _codes(source) if s == "error"]
    assert [c for c, _ in errors] == ["OML311"]
    assert hint_word in (errors[0][1] or "")


def test_select_star_is_dropped_with_a_warning() -> None:
    source = (
        'oml_version: "0.1.0"\nname: demo\nsteps:\n  - id: src\n'
        "    component: supabase.extractor\n    mode: read\n"
        '    config: {connection: "@supabase.main", table: orders, select: "*"}\n'
    )
    assert [(c, s) for c, s, _ in _codes(source)] == [("OML310", "warning")]


def test_prefer_merge_duplicates_is_an_upsert_and_needs_a_key() -> None:
    source = _step(
        "supabase.writer",
        '{connection: "@supabase.main", table: t, prefer: resolution=merge-duplicates}',
    )
    found = [(c, s) for c, s, _ in _codes(source)]
    # the rewrite makes it an upsert, whose rule then asks for the key
    assert sorted(found) == [("OML307", "error"), ("OML309", "warning")]


def test_prefer_ignore_duplicates_is_refused() -> None:
    source = _step(
        "supabase.writer",
        '{connection: "@supabase.main", table: t, prefer: resolution=ignore-duplicates}',
    )
    assert [(c, s) for c, s, _ in _codes(source)] == [("OML311", "error")]


# --- the CSV extractor: compression and parse_dates ------------------------------------

CSV = "id,day,at,name\n1,2024-01-05,2024-01-05 10:00:00,ann\n2,2024-02-06,2024-02-06 11:30:00,bob\n"


@pytest.fixture
def plane(tmp_path: Path) -> FilePlane:
    connection = duckdb.connect(str(tmp_path / "plane.duckdb"))
    yield FilePlane(tmp_path, connection)
    connection.close()


def _extract(plane: FilePlane, step: str, config: dict[str, object]) -> None:
    CSVExtractorDriver().run(plane.context(step, {"base_dir": str(plane.project_dir)}), config, {})


@pytest.mark.parametrize(
    ("name", "compression"),
    [("data.csv.bz2", None), ("data.csv.xz", None), ("data.csv.zip", None), ("packed", "bz2")],
)
def test_bz2_xz_zip_are_read(plane: FilePlane, name: str, compression: str | None) -> None:
    path = plane.project_dir / name
    if name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("data.csv", CSV)
    elif name.endswith(".xz"):
        path.write_bytes(lzma.compress(CSV.encode()))
    else:
        path.write_bytes(bz2.compress(CSV.encode()))
    config: dict[str, object] = {"path": name}
    if compression:
        config["compression"] = compression
    _extract(plane, "read", config)
    assert [row[0] for row in plane.rows("read")] == [1, 2]
    assert [row[3] for row in plane.rows("read")] == ["ann", "bob"]
    # the unpacked copy is gone after the read
    assert list((plane.project_dir / "artifacts" / "read").iterdir()) == []


def test_a_zip_with_two_files_is_refused(plane: FilePlane) -> None:
    with zipfile.ZipFile(plane.project_dir / "two.zip", "w") as archive:
        archive.writestr("a.csv", CSV)
        archive.writestr("b.csv", CSV)
    with pytest.raises(DriverError, match="holds 2 files") as caught:
        _extract(plane, "read", {"path": "two.zip"})
    assert caught.value.hint


def test_a_corrupt_bz2_file_is_a_data_error(plane: FilePlane) -> None:
    (plane.project_dir / "bad.csv.bz2").write_bytes(b"not bzip2 at all")
    with pytest.raises(DriverError, match="cannot unpack") as caught:
        _extract(plane, "read", {"path": "bad.csv.bz2"})
    assert caught.value.category == "data"


@pytest.mark.parametrize(
    ("parse_dates", "types"),
    [
        (None, ["BIGINT", "DATE", "TIMESTAMP", "VARCHAR"]),
        (True, ["BIGINT", "DATE", "TIMESTAMP", "VARCHAR"]),
        (False, ["BIGINT", "VARCHAR", "VARCHAR", "VARCHAR"]),
        (["day"], ["BIGINT", "DATE", "VARCHAR", "VARCHAR"]),
        (["at"], ["BIGINT", "VARCHAR", "TIMESTAMP", "VARCHAR"]),
    ],
)
def test_parse_dates_decides_which_columns_are_dates(
    plane: FilePlane, parse_dates: object, types: list[str]
) -> None:
    (plane.project_dir / "d.csv").write_text(CSV)
    config: dict[str, object] = {"path": "d.csv"}
    if parse_dates is not None:
        config["parse_dates"] = parse_dates
    _extract(plane, "read", config)
    assert [t for _, t in plane.columns("read")] == types
    # text stays exactly as written
    if parse_dates is False:
        assert plane.rows("read")[0][1:3] == ("2024-01-05", "2024-01-05 10:00:00")


def test_parse_dates_on_a_text_column_fails_with_a_hint(plane: FilePlane) -> None:
    (plane.project_dir / "d.csv").write_text(CSV)
    with pytest.raises(DriverError) as caught:
        _extract(plane, "read", {"path": "d.csv", "parse_dates": ["name"]})
    assert "parse_dates" in (caught.value.hint or "")


def test_parse_dates_naming_no_column_lists_the_columns(plane: FilePlane) -> None:
    (plane.project_dir / "d.csv").write_text(CSV)
    with pytest.raises(DriverError, match="not a column") as caught:
        _extract(plane, "read", {"path": "d.csv", "parse_dates": ["when"]})
    assert "id, day, at, name" in (caught.value.hint or "")


def test_truncate_before_of_another_value_is_refused_with_the_replacement() -> None:
    source = _step("mysql.writer", '{connection: "@mysql.main", table: t, truncate_before: "yes"}')
    errors = [(c, h) for c, s, h in _codes(source) if s == "error"]
    assert [c for c, _ in errors] == ["OML311"]
    assert "write_mode: replace" in (errors[0][1] or "")


@pytest.mark.parametrize(
    ("rule", "detail"),
    [
        ("{key: table, hint: h}", "'table' is a config key, an alias or ignored"),
        (
            "{key: old, set: {write_mod: replace}, hint: h}",
            "'write_mod' is not a key of configSchema",
        ),
        ("{key: old, equals: 1, in: [2], hint: h}", "/x-migrations/0"),
    ],
)
def test_a_broken_migration_rule_is_a_spec_error(tmp_path: Path, rule: str, detail: str) -> None:
    from components.registry import PACKAGE_DIR, SpecError, load_spec

    folder = tmp_path / "mysql_writer"
    folder.mkdir()
    text = (PACKAGE_DIR / "mysql_writer" / "spec.yaml").read_text()
    text = text.replace("x-migrations:\n", f"x-migrations:\n  - {rule}\n", 1)
    (folder / "spec.yaml").write_text(text)
    with pytest.raises(SpecError, match=re.escape(detail)):
        load_spec(folder / "spec.yaml")
