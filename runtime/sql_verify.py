"""`--verify-sql`: every extract query PREPAREd by the server it will run on, never executed.

The compiler checks SQL with sqlglot's reading of the dialect; only the server knows its
own grammar, its tables and its columns. Opt-in (it needs the servers): `osiris compile
--verify-sql`, `osiris validate --verify-sql`, MCP `oml_validate(verify_sql=true)`.

For each extract the text Osiris will send (sqlglot's rendering of the checked query) is
prepared in a read-only session with a short server-side time limit, then deallocated:
PREPARE parses and resolves names but runs nothing, so no row is read and nothing is
locked or written. When the server refuses it, the query as written is prepared too, so
the diagnostic points at the line and column in the OML file.

Findings are compiler diagnostics:
- SQL413 the server refuses the query (its error, with the position when it gives one);
- SQL414 the query could not be verified (no connection, server unreachable).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.diagnostics import Diagnostic
from compiler.sql.canonical import render_canonical
from compiler.sql.positions import offset_map
from compiler.sql.safety import check_sql
from runtime.redaction import Redactor

if TYPE_CHECKING:
    from compiler.program import CompileContext, Program, SqlUnit
    from components.registry import ComponentSpec

#: Server-side limit for one PREPARE: parsing and name resolution are quick.
TIMEOUT_S = 10.0

_FAMILIES = ("mysql", "postgres", "supabase")


@dataclass(frozen=True)
class Refusal:
    """The server's answer to a PREPARE that failed: message and offset in the text."""

    message: str
    offset: int | None = None


Prepare = Callable[[str], Refusal | None]


def verify_sql(
    program: Program, context: CompileContext, project: Path, timeout_s: float = TIMEOUT_S
) -> list[Diagnostic]:
    """PREPARE each extract query on its server; report what the servers refuse.

    The findings are added to `program.diagnostics` and returned.
    """
    from runtime.connections import ConnectionError as OsirisConnectionError
    from runtime.connections import ConnectionsFile

    before = len(program.diagnostics)
    if program.pipeline is None or context.registry is None:
        return []
    file: ConnectionsFile | None = None
    sessions: dict[tuple[str, str], Prepare | Refusal] = {}
    try:
        for step in program.pipeline.steps:
            spec = context.registry.get(step.component)
            units = program.sql.get(step.id, {})
            if spec is None or spec.family not in _FAMILIES:
                continue
            for unit in units.values():
                if unit.role != "extract":
                    continue
                if file is None:
                    file = ConnectionsFile.load(project)
                config = program.configs.get(step.id, {})
                key = (step.id, unit.field)
                prepare: Prepare | Refusal
                try:
                    prepare = _session(file, spec, config, timeout_s)
                except OsirisConnectionError as err:
                    prepare = Refusal(f"cannot connect: {err}")
                except Exception as err:  # the driver's own error: one line, no secret
                    prepare = Refusal(f"cannot connect: {_one_line(err)}")
                sessions[key] = prepare
                _verify_unit(program, step.id, unit, prepare, spec.family or "")
    finally:
        for prepare in sessions.values():
            close = getattr(prepare, "close", None)
            if close is not None:
                close()
    return program.diagnostics[before:]


def _verify_unit(
    program: Program, step_id: str, unit: SqlUnit, prepare: Prepare | Refusal, family: str
) -> None:
    path = f"{program.step_path(step_id)}/config/{unit.field}"
    if isinstance(prepare, Refusal):
        program.report(
            "SQL414",
            f"the query could not be verified: {prepare.message}",
            path,
            hint="check the connection with `osiris connections doctor`, or compile "
            "without --verify-sql",
            step=step_id,
        )
        return
    tree = check_sql(unit.text, unit.dialect, unit.role).tree
    if tree is None:
        return
    refused = prepare(render_canonical(tree, unit.dialect))
    if refused is None:
        return
    as_written = prepare(unit.text)
    offset = None
    if as_written is not None and as_written.offset is not None:
        start = min(as_written.offset, max(len(unit.text) - 1, 0))
        offset = offset_map(program, path, unit.text).span((start, start + 1))
    hint = (
        "fix the query so that the server accepts it"
        if as_written is not None
        else "the server accepts the query as written but not as Osiris renders it: "
        "this is a bug in Osiris, please report it with the query"
    )
    program.report(
        "SQL413",
        f"the {family} server refuses the query: {refused.message}",
        path,
        offset=offset,
        hint=hint,
        step=step_id,
    )


def _session(file: Any, spec: ComponentSpec, config: dict[str, Any], timeout_s: float) -> Prepare:
    secret = {pointer.lstrip("/") for pointer in spec.secrets}
    inline = {
        f.field: config[f.field]
        for f in spec.connection_fields
        if f.field in config and f.field not in secret
    }
    ref = config.get("connection")
    family = spec.family or ""
    resolved = file.resolve(ref if isinstance(ref, str) else None, family, inline)
    scrub = Redactor(resolved.secret_values).text
    if family == "mysql":
        return _MySQLPrepare(resolved.fields, timeout_s, scrub)
    return _PostgresPrepare(resolved.fields, family, timeout_s, scrub)


class _MySQLPrepare:
    """PREPARE on MariaDB/MySQL in a READ ONLY transaction with `max_statement_time`."""

    def __init__(
        self, fields: dict[str, Any], timeout_s: float, scrub: Callable[[str], str]
    ) -> None:
        from components.mysql.io import MySQLServer

        self.scrub = scrub
        self.conn = MySQLServer(fields).connect(read_timeout=timeout_s + 5)
        with self.conn.cursor() as cur:
            # MariaDB's name; MySQL's is max_execution_time (milliseconds, SELECT only)
            for setting in (
                f"SET SESSION max_statement_time = {float(timeout_s)}",
                f"SET SESSION max_execution_time = {int(timeout_s * 1000)}",
            ):
                try:
                    cur.execute(setting)
                except Exception:
                    continue
            cur.execute("START TRANSACTION READ ONLY")

    def __call__(self, text: str) -> Refusal | None:
        import pymysql  # type: ignore[import-untyped]

        with self.conn.cursor() as cur:
            try:
                cur.execute("PREPARE osiris_verify FROM %s", (text,))
            except pymysql.MySQLError as err:
                code = err.args[0] if err.args else "?"
                detail = " ".join(str(err.args[1] if len(err.args) > 1 else err).split())
                message = self.scrub(f"MySQL error {code}: {detail}")
                return Refusal(message, _mysql_offset(detail, text))
            cur.execute("DEALLOCATE PREPARE osiris_verify")
        return None

    def close(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


class _PostgresPrepare:
    """PREPARE on PostgreSQL in a READ ONLY transaction with `statement_timeout`."""

    _PREFIX = "PREPARE osiris_verify AS "

    def __init__(
        self, fields: dict[str, Any], family: str, timeout_s: float, scrub: Callable[[str], str]
    ) -> None:
        from components.postgres.io import PostgresServer, read_settings, supabase_fields

        self.scrub = scrub
        server = PostgresServer(supabase_fields(fields) if family == "supabase" else fields)
        self.conn = server.connect()
        self.conn.read_only = True
        # the settings of a real read (its schema first on the search_path, its time limit)
        for name, value in read_settings(server.schema, timeout_s).items():
            self.conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        self.conn.commit()

    def __call__(self, text: str) -> Refusal | None:
        import psycopg

        try:
            with self.conn.transaction():
                self.conn.execute(self._PREFIX + text)  # type: ignore[arg-type,unused-ignore]
                self.conn.execute("DEALLOCATE osiris_verify")
        except psycopg.Error as err:
            position = getattr(err.diag, "statement_position", None)
            offset = int(position) - 1 - len(self._PREFIX) if position else None
            primary = err.diag.message_primary or _one_line(err)
            return Refusal(self.scrub(primary), offset if offset is None or offset >= 0 else None)
        return None

    def close(self) -> None:
        self.conn.close()


def _mysql_offset(detail: str, text: str) -> int | None:
    """Where MySQL's `near '...'` or a quoted unknown name stands in `text`."""
    near = re.search(r"near '(.*)' at line (\d+)", detail, re.DOTALL)
    if near is not None and near.group(1):
        found = text.find(near.group(1))
        return found if found >= 0 else None
    name = re.search(r"Unknown column '([^']+)'|Table '(?:[^'.]+\.)?([^']+)' doesn't exist", detail)
    if name is not None:
        word = (name.group(1) or name.group(2) or "").split(".")[-1]
        where = re.search(rf"(?<![\w`]){re.escape(word)}(?![\w`])", text, re.IGNORECASE)
        return where.start() if where else None
    return None


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__
