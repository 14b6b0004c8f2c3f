"""Writes docs/diagnostics.md from the code table and real compiler output.

Every example below is compiled for real, so the catalog shows the message Osiris gives
today; `tests/docs/test_diagnostics_catalog.py` fails when the file is out of date.
Regenerate with `make docs`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "invalid"
TARGET = ROOT / "docs" / "diagnostics.md"

GROUPS = {
    "OML0": "YAML and the file",
    "OML1": "Document structure",
    "OML2": "References and the step graph",
    "OML3": "Components and config",
    "SQL4": "SQL",
    "SEC5": "Secrets and safety",
    "PAR6": "Params and profiles",
    "INT9": "Internal errors",
}

_STEP = """oml_version: "0.1.0"
name: demo
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.main"
{extra}      query: SELECT id, name FROM customers
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {{df: "${{extract.df}}"}}
    config: {{path: out/customers.csv}}
"""


def _catalog() -> Any:
    from compiler.catalog import Catalog, Column, Table

    def table(name: str, *columns: str) -> Table:
        cols = tuple(Column(name=c, type="int", normalized_type="integer") for c in columns)
        return Table(schema="shop", name=name, columns=cols)

    return {
        "@mysql.main": Catalog(
            connection="@mysql.main",
            family="mysql",
            default_schema="shop",
            tables=(table("customers", "id", "name"), table("orders", "id", "customer_id")),
        )
    }


def _query(sql: str) -> str:
    return _STEP.format(extra="").replace("SELECT id, name FROM customers", sql)


_SPARK = {"engines": ("duckdb", "spark")}


def _transform(sql: str) -> str:
    """A transform over the extract, compiled for Spark (`osiris compile --engine spark`)."""
    return (
        _STEP.format(extra="")
        .replace(
            "  - id: write\n",
            "  - id: shape\n    component: duckdb.processor\n    mode: transform\n"
            f"    needs: [extract]\n    config:\n      query: {sql}\n  - id: write\n",
        )
        .replace("${extract.df}", "${shape.df}")
    )


#: Examples for codes the corpus cannot show on its own (they need a context).
EXTRA: dict[str, tuple[str, dict[str, Any]]] = {
    "OML209": (
        _STEP.format(extra="").replace("@mysql.main", "@mysql.mian"),
        {"connections": frozenset({"@mysql.main", "@postgres.main"})},
    ),
    "OML306": (
        _STEP.format(extra="      sslmode: disable\n")
        .replace("mysql.extractor", "postgres.extractor")
        .replace("@mysql.main", "@postgres.main"),
        {},
    ),
    "OML309": (
        _STEP.format(extra="")
        .replace("config: {path: out/customers.csv}", "config: {path: out/customers.csv}")
        .replace("filesystem.csv_writer", "mysql.writer")
        .replace(
            "config: {path: out/customers.csv}",
            'config: {connection: "@mysql.main", table: t, mode: replace}',
        ),
        {},
    ),
    "OML310": (_STEP.format(extra="      pool_size: 5\n"), {}),
    "OML212": (_STEP.format(extra="").replace('    inputs: {df: "${extract.df}"}\n', ""), {}),
    "OML010": (_STEP.format(extra="      x: " + "[" * 70 + "]" * 70 + "\n"), {}),
    "SEC502": (_STEP.format(extra="      api_token: abc123secret\n"), {}),
    "PAR605": (_STEP.format(extra=""), {"params": {"since": "2026-01-01"}}),
    "SQL407": (_query("SELECT id FROM customer"), {"catalogs": "catalog"}),
    "SQL408": (_query("SELECT id, nme FROM customers"), {"catalogs": "catalog"}),
    "SQL409": (
        _query("SELECT id FROM customers JOIN orders ON orders.customer_id = customers.id"),
        {"catalogs": "catalog"},
    ),
    "SQL410": (_query("SELECT id, name --\u00a0, SLEEP(5)\n        FROM customers"), {}),
    "SQL415": (_transform("SELECT id, hash(name) AS h FROM df_extract"), _SPARK),
    "SQL416": (_transform("SELECT list(name) AS names FROM df_extract"), _SPARK),
    "SQL417": (_transform("SELECT id, upper(name) FROM df_extract"), _SPARK),
    "SQL411": (
        _query("\"SELECT id, name FROM customers WHERE name = '${params.name}'\"").replace(
            "steps:", "params:\n  name: {type: string, default: ada}\nsteps:"
        ),
        {"params": {"name": "ada' OR '1'='1"}},
    ),
}
NOTES = {
    "SQL413": "Only with `--verify-sql` (or MCP `oml_validate(verify_sql=true)`): the server "
    "PREPAREs the extract query, in a read-only session, without running it, and refuses it:\n\n"
    "    pipeline.yaml:9:31: error[SQL413]: the mysql server refuses the query: MySQL error "
    "1054: Unknown column 'rating' in 'SELECT'\n"
    "         = hint: fix the query so that the server accepts it\n",
    "SQL414": "Only with `--verify-sql`: the server could not be asked (no connection, "
    "unreachable, refused login):\n\n"
    "    pipeline.yaml:9:14: error[SQL414]: the query could not be verified: cannot connect: "
    "(2003, \"Can't connect to MySQL server on '127.0.0.1'\")\n"
    "         = hint: check the connection with `osiris connections doctor`, or compile "
    "without --verify-sql\n",
    "SQL418": "Only with `osiris compile --engine spark` (or MCP `oml_compile` with `engine: "
    "spark`): Spark's own parser and analyzer read each transform's Spark SQL, over empty "
    "views shaped like its inputs, and refuse it. Here a function DuckDB has and Spark does "
    "not (tests/cli/test_compile_spark.py):\n\n"
    "    similar.yaml:15:16: error[SQL418]: Spark refuses the query as compiled for it: "
    "[UNRESOLVED_ROUTINE] Cannot resolve routine `JAROWINKLER_SIMILARITY`\n"
    "      15 |                jaro_winkler_similarity(name, 'Ada') AS score\n"
    "         |                ^^^^^^^^^^^^^^^^^^^^^^^\n"
    "         = hint: the step would fail on Spark: write it with functions both engines "
    "have (docs/oml.md, Compiling for Spark)\n",
    "SQL419": "Only with `--engine spark`: Spark's parser runs in a JVM, and none could be "
    "started (pyspark not installed, no Java, or the JVM failed); no build is written:\n\n"
    "    quickstart.yaml:27:14: error[SQL419]: the Spark SQL could not be checked: Java is "
    "not installed (Spark's parser runs in a JVM)\n"
    "         = hint: install Java 17 or newer (e.g. apt install openjdk-17-jre-headless) or "
    "set JAVA_HOME\n",
    "OML003": "A file that is not UTF-8 text, e.g. `name: caf\\xe9` saved as Latin-1:\n\n"
    "    pipeline.yaml:1:10: error[OML003]: byte 0xe9 at offset 9 is not valid UTF-8\n"
    "         = hint: save the file as UTF-8\n",
    "OML004": "A file over 5 MB (5,242,880 bytes) is refused before it is parsed:\n\n"
    "    big.yaml:1:1: error[OML004]: file is 6,000,000 bytes; "
    "OML files are limited to 5,242,880 bytes\n",
    "OML305": "A component spec can mark a connection field `override: forbidden`; setting it "
    "in the step is then this error. No shipped component does any more: as in 0.5.7, a step "
    "may set `host`, `port`, `database`, `user` (and `schema`) inline, over its connection's "
    "values, while an inline password or token stays a `SEC501`.\n",
    "INT900": "A bug in Osiris. It is reported as a diagnostic (never a traceback) so the "
    "message can be passed on; set `OSIRIS_DEBUG=1` to see the traceback when reporting it.\n",
}


def _example(code: str) -> str | None:
    from compiler.compile import check, default_context
    from compiler.diagnostics import render

    if code in EXTRA:
        source, context = EXTRA[code]
        if context.get("catalogs") == "catalog":
            context = {**context, "catalogs": _catalog()}
        program = check(source, default_context(**context), "pipeline.yaml")
        shown = "pipeline.yaml"
    else:
        files = sorted(CORPUS.glob(f"{code}_*.yaml"))
        if not files:
            return None
        text = files[0].read_text("utf-8")
        profile = re.search(r"^# profile: (\S+)$", text, re.M)
        program = check(
            text, default_context(profile=profile[1] if profile else None), files[0].name
        )
        shown = f"tests/corpus/invalid/{files[0].name}"
    for diagnostic in program.diagnostics:
        if diagnostic.code == code:
            return (
                f"Example ({shown}):\n\n"
                + _indent(render(diagnostic, Path(shown).name, program.source))
                + "\n"
            )
    return None


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else "" for line in text.splitlines())


def build() -> str:
    from compiler.diagnostics import CODES

    out = [
        "# Diagnostics",
        "",
        "Every problem Osiris finds — from YAML syntax to an unsafe SQL statement — is one",
        "diagnostic with a stable code, a severity, the JSON pointer of the value, the line and",
        "column in your file, and a hint. `osiris validate --json` prints them as",
        '`{"valid": false, "diagnostics": [{"code", "severity", "message", "path", "line",',
        '"column", "end_line", "end_column", "hint", "suggestions"}]}`.',
        "",
        "Codes never change meaning. This file is generated from real compiler output",
        "(`make docs`); a test keeps it current.",
        "",
    ]
    group = None
    for code, title in CODES.items():
        if code[:4] != group:
            group = code[:4]
            out += [f"## {code[:3]}{code[3]}xx — {GROUPS.get(group, group)}", ""]
        out += [f"### {code} — {title}", ""]
        example = NOTES.get(code) or _example(code)
        out.append(example if example else "(no example yet)\n")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    TARGET.write_text(build(), "utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
