"""What is checked is what runs: no byte of a query may be a comment to the checker and
code to the server.

sqlglot takes `--` followed by any Unicode space for a comment; MariaDB reads only ASCII
whitespace there, and a non-ASCII space as part of a name. Such characters (and lone CRs,
controls, invisible format characters) are refused with SQL410 at their line and column —
in the query as written and in the query as a param value makes it. A param value must be
one SQL value (SQL411): it can never add a quote, a comment or a clause.
"""

from __future__ import annotations

import json
from typing import Any

import pymysql
import pytest

from compiler.compile import check, default_context
from tests.compiler.test_sql_safety import extract_doc

UNICODE_SPACES = ["\u00a0", "\u0085", "\u2002", "\u2028", "\u3000"]
PAYLOADS = [
    "LOAD_FILE('/etc/passwd')",
    "SLEEP(5)",
    "GET_LOCK('x', 10)",
    "/*! LOAD_FILE('/etc/passwd') */",
]


def _codes(text: str, **context: Any) -> list[tuple[str, int, int]]:
    program = check(text, default_context(**context))
    return [(d.code, d.line, d.column) for d in program.diagnostics]


def _one_line_doc(sql: str, dialect: str = "mysql") -> str:
    """The query as a YAML double-quoted string, every non-ASCII character escaped: YAML
    itself takes U+0085 and U+2028 for line breaks inside a block scalar, and refuses
    control characters written as they are."""
    steps = {
        "mysql": "component: mysql.extractor\n    mode: read",
        "postgres": "component: postgres.extractor\n    mode: read",
        "duckdb": "component: duckdb.processor\n    mode: transform\n"
        '    inputs: {src: "${src.df}"}',
    }[dialect]
    source = (
        '  - {id: src, component: mysql.extractor, mode: read, config: {query: "SELECT 1"}}\n'
        if dialect == "duckdb"
        else ""
    )
    return f"""oml_version: "0.1.0"
name: safety
steps:
{source}  - id: extract_orders
    {steps}
    config:
      query: {json.dumps(sql)}
"""


@pytest.mark.parametrize("space", UNICODE_SPACES)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_unicode_space_after_dashes_is_refused(space: str, payload: str) -> None:
    codes = _codes(_one_line_doc(f"SELECT id, total --{space}, {payload}\nFROM orders"))
    assert [(code, line) for code, line, _ in codes] == [("SQL410", 8)], codes


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_diagnostic_points_at_the_space(payload: str) -> None:
    sql = f"SELECT id,\n       total --\u00a0, {payload}\nFROM orders"
    codes = _codes(extract_doc(sql, "mysql"))
    # the query starts on line 9, indented 8: the space is on line 10 after `total --`
    assert codes == [("SQL410", 10, 24)], codes


@pytest.mark.parametrize("space", UNICODE_SPACES)
@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
def test_every_dialect_refuses_unicode_spaces(space: str, dialect: str) -> None:
    codes = _codes(_one_line_doc(f"SELECT 1 AS a --{space}x\n, 2 AS b", dialect))
    assert [c for c, _, _ in codes] == ["SQL410"]


@pytest.mark.parametrize(
    "char", ["\r", "\x0b", "\x0c", "\x00", "\u200b", "\u200d", "\ufeff", "\u202e", "\x1c"]
)
def test_lone_cr_controls_and_invisible_characters_are_refused(char: str) -> None:
    codes = [c for c, _, _ in _codes(_one_line_doc(f"SELECT 1 AS a -- x{char}, 2 AS b"))]
    assert codes == ["SQL410"]


def test_crlf_and_tabs_are_plain_whitespace() -> None:
    assert _codes(extract_doc("SELECT id,\tname -- ok\r\nFROM orders", "mysql")) == []


# ---- through a param value alone -------------------------------------------------------

PARAM_PIPELINE = """oml_version: "0.1.0"
name: harmless
params:
  name: {type: string, default: ada}
  min_id: {type: string, default: "0"}
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      query: "SELECT id FROM users WHERE name = '${params.name}' AND id > ${params.min_id}"
"""

PARAM_ATTACKS = [
    ("name", "ada' --\u00a0, LOAD_FILE('/etc/passwd') -- ", "SQL410"),
    ("name", "ada' OR '1'='1", "SQL411"),
    ("name", "x' UNION SELECT LOAD_FILE('/etc/passwd') -- ", "SQL403"),
    ("min_id", "0 --\u00a0, SLEEP(5)", "SQL410"),
    ("min_id", "0 OR 1=1", "SQL411"),
    ("min_id", "0 /*! AND SLEEP(5) */", "SQL404"),
    ("min_id", "(SELECT 1)", "SQL411"),
]


@pytest.mark.parametrize(("name", "value", "code"), PARAM_ATTACKS)
def test_a_param_value_is_one_value_never_sql(name: str, value: str, code: str) -> None:
    """`--param`, OSIRIS_PARAM_* and profiles all land here; the pipeline itself is harmless."""
    by_cli = _codes(PARAM_PIPELINE, params={name: value})
    by_env = _codes(PARAM_PIPELINE, env={f"OSIRIS_PARAM_{name.upper()}": value})
    assert code in [c for c, _, _ in by_cli], by_cli
    assert code in [c for c, _, _ in by_env], by_env
    # pinned to the `${params.x}` in the file (line 11), never past the line
    assert all(line == 11 for _, line, _ in by_cli)


def test_plain_param_values_still_compile() -> None:
    assert _codes(PARAM_PIPELINE, params={"name": "O''Brien", "min_id": "42"}) == []
    assert _codes(PARAM_PIPELINE, params={"name": "ada lovelace", "min_id": "4.5e1"}) == []


# ---- the server reads such text otherwise --------------------------------------------------


@pytest.mark.db
def test_mariadb_reads_a_unicode_space_as_part_of_a_name(mysql_db: dict[str, Any]) -> None:
    """Why SQL410 exists: to sqlglot `SELECT 1 AS a\\u00a0` ends after `a`; to MariaDB the
    no-break space is a character of the name. The checker and the server disagree on where
    tokens end, so nothing past such a character can be trusted to be what was checked."""
    conn = pymysql.connect(**mysql_db, charset="utf8mb4")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 AS a\u00a0")
            assert [d[0] for d in cursor.description] == ["a\u00a0"]
            with pytest.raises(pymysql.err.ProgrammingError):
                cursor.execute("SELECT 1 AS a --\u00a0")  # a comment to sqlglot
    finally:
        conn.close()
    assert [c for c, _, _ in _codes(extract_doc("SELECT 1 AS a --\u00a0", "mysql"))] == ["SQL410"]
