"""Passwords inside URLs: one reading for resolution and masking, refused in OML and
params at compile time, masked in every text Osiris gives out — MCP refusals and prompts
included.

A password with an unencoded `@` (`postgresql://etl:p@ss@host/db`) used to be read two
ways: the DSN parser split at the first `@` (password `p`, host `ss@host`), the redactor
at the last (masking `p@ss`), so the tail `ss` leaked in every "could not connect to
ss@host" message. Both now read it through components/sql/params.py `split_credentials`
(the compiler, which may not import it, through a copy a test holds to the same answers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from compiler.compile import check, default_context
from components.sql.params import parse_dsn, postgres_params
from runtime.connections import secret_values_of
from runtime.redaction import Redactor
from tests.mcp.conftest import CANARY, connect, make_server
from tests.mcp.conftest import project as project  # the MCP suite's project fixture

AT_PASSWORD = "p@ss@w0rd-Tail7Q"


def test_resolution_and_masking_read_an_at_sign_password_alike() -> None:
    url = f"postgresql://postgres:{AT_PASSWORD}@127.0.0.1:5432/test?sslmode=disable"
    resolved = parse_dsn(url)
    assert (resolved["password"], resolved["host"], resolved["user"]) == (
        AT_PASSWORD,
        "127.0.0.1",
        "postgres",
    )
    redactor = Redactor(secret_values_of({"pg_dsn": url}))
    for message in (
        f"could not connect to {url}",
        f'connection to server at "{resolved["host"]}" failed for {url!r}',
        f"password={AT_PASSWORD} rejected",
    ):
        masked = redactor.text(message)
        assert "Tail7Q" not in masked and "w0rd" not in masked, masked
    # with no secret known at all, the URL pattern alone masks the whole password
    assert "Tail7Q" not in Redactor().text(f"dial {url} now")


@pytest.mark.parametrize(
    "rest",
    [
        "etl:p@ss@db.internal:5432/dw",
        "etl:pw@db/dw@2024",
        "db.internal/dw@2024",
        "u:p/x@h/db",
        "u@h",
        "u:@h",
        "h:5432/db?x=a@b",
        "u:a b@h",
        ":pw@h",
        "u:p@ss#frag@h",
    ],
)
def test_the_compiler_reads_url_credentials_as_resolution_does(rest: str) -> None:
    """Two copies of one rule (the compiler may not import components.sql.params): the
    password the compiler refuses is the one resolution would send."""
    from compiler.passes.secrets import url_password
    from components.sql.params import split_credentials

    credentials, _ = split_credentials(rest)
    assert url_password(rest) == ((credentials or "").partition(":")[2] or None)


@pytest.mark.db
def test_an_at_sign_password_reaches_the_right_server() -> None:
    """The real server: the host is 127.0.0.1, not `ss@w0rd-…@127.0.0.1` (trust auth on
    loopback accepts any password, so the connection proves where the parser went)."""
    url = f"postgresql://postgres:{AT_PASSWORD}@127.0.0.1:5432/test?sslmode=disable"
    with psycopg.connect(**postgres_params({"pg_dsn": url})) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


PIPELINE = """oml_version: "0.1.0"
name: urls
params:
  source: {{type: string, default: "local"}}
{profiles}steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      query: "SELECT '${{params.source}}' AS source"
"""

URL_PASSWORDS = [
    "postgresql://etl:Hunter2Pw@db.internal/dw",
    "postgresql://etl:p@ss@Hunter2Pw@db.internal/dw",
    "mysql://etl:Hunter2Pw@db.internal:3306/shop",
    "jdbc:postgresql://db.internal:5432/dw?user=etl&password=Hunter2Pw",
    "jdbc:mysql://db.internal/shop?useSSL=true&pwd=Hunter2Pw",
    "https://api.example.com/v1?token=x&password=Hunter2Pw",
    "host=db.internal dbname=dw password=Hunter2Pw",
]


def _compiled(text: str, **context: Any) -> tuple[list[str], str]:
    program = check(text, default_context(**context))
    shown = " ".join(f"{d.message} {d.hint}" for d in program.diagnostics)
    return [d.code for d in program.diagnostics], shown


@pytest.mark.parametrize("url", URL_PASSWORDS)
def test_a_url_password_in_a_param_is_refused_from_every_source(url: str) -> None:
    for context in (
        {"params": {"source": url}},
        {"env": {"OSIRIS_PARAM_SOURCE": url}},
    ):
        codes, shown = _compiled(PIPELINE.format(profiles=""), **context)
        assert "SEC503" in codes, (context, codes)
        assert "Hunter2Pw" not in shown
    profile = f"profiles:\n  prod:\n    params: {{source: {url!r}}}\n"
    codes, shown = _compiled(PIPELINE.format(profiles=profile), profile="prod")
    assert "SEC503" in codes and "Hunter2Pw" not in shown
    default = PIPELINE.format(profiles="").replace('default: "local"', f"default: {url!r}")
    codes, shown = _compiled(default)
    assert "SEC503" in codes and "Hunter2Pw" not in shown


@pytest.mark.parametrize("url", URL_PASSWORDS)
def test_the_redactor_masks_every_url_spelling(url: str) -> None:
    assert "Hunter2Pw" not in Redactor().text(f"failed: {url} (retrying)")


def test_plain_urls_are_not_passwords() -> None:
    for url in ("https://example.com/a@b", "s3://bucket/key?versionId=3", "mailto:a@b.c"):
        codes, _ = _compiled(PIPELINE.format(profiles=""), params={"source": url})
        assert codes == [], (url, codes)


# ---- MCP: refusals and prompts echo their input, masked ------------------------------------


@pytest.mark.anyio
async def test_mcp_refusals_and_prompts_mask_what_they_echo(project: Path) -> None:
    """The connections' password is identifier-shaped, so it passes as a run id: the
    resource refusal (`No run '…'`) and the debug prompt both quote it — masked."""
    async with connect(make_server(project)) as client:
        with pytest.raises(Exception) as refused:
            await client.read_resource(f"osiris://runs/{CANARY}/status.json")
        assert CANARY not in str(refused.value) and "***" in str(refused.value)
        prompt = await client.get_prompt("debug_run", {"run_id": CANARY})
        assert CANARY not in prompt.model_dump_json()
        authored = await client.get_prompt("author_pipeline", {"goal": f"use {CANARY}"})
        assert CANARY not in authored.model_dump_json()
