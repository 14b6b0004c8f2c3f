"""A chain of DuckDB-only steps runs as one DuckDB statement (runtime/fusion.py): the file
is byte for byte the one written step by step (`--keep-data-plane` makes every table, so
it runs the chain step by step), the steps report the same rows and keep the same
samples, and every failure is worded and attributed as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from osiris_mcp.cli import main
from tests.components.test_file_drivers import TRICKY, TRICKY_CSV

CONNECTIONS = {"connections": {"filesystem": {"local": {"default": True, "base_dir": "data"}}}}
#: every column of the tricky table, each one changed or passed on: a row-for-row projection
PROJECTION = (
    "SELECT id, upper(txt) AS txt, price * 2 AS price, ts, tstz, day, ratio, NOT flag AS flag "
    "FROM df"
)
READERS = {"csv": "in.csv", "parquet": "in.parquet", "json": "in.json"}
WRITERS = {"csv": "out.csv", "json": "out.json", "ndjson": "out.ndjson"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose data/ holds the tricky rows as CSV (the writer's own text),
    Parquet and JSON."""
    (tmp_path / "osiris_connections.yaml").write_text(yaml.safe_dump(CONNECTIONS))
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.csv").write_text(TRICKY_CSV, "utf-8")
    with duckdb.connect() as db:
        db.execute(TRICKY)
        db.execute(f"COPY src TO '{data / 'in.parquet'}' (FORMAT parquet)")
        db.execute(f"COPY src TO '{data / 'in.json'}' (FORMAT json, ARRAY true)")
    return tmp_path


def pipeline(
    project: Path,
    read: tuple[str, dict[str, Any]],
    queries: list[str],
    write: tuple[str, dict[str, Any]],
) -> None:
    """`read` (format, config) → one duckdb.processor per query → `write` (format, config)."""
    steps: list[dict[str, Any]] = [
        {
            "id": "extract",
            "component": f"filesystem.{read[0]}_extractor",
            "mode": "read",
            "config": read[1],
        }
    ]
    for index, query in enumerate(queries, 1):
        steps.append(
            {
                "id": f"t{index}",
                "component": "duckdb.processor",
                "mode": "transform",
                "inputs": {"df": "${" + steps[-1]["id"] + ".df}"},
                "config": {"query": query},
            }
        )
    steps.append(
        {
            "id": "write",
            "component": f"filesystem.{write[0].replace('ndjson', 'json')}_writer",
            "mode": "write",
            "inputs": {"df": "${" + steps[-1]["id"] + ".df}"},
            "config": write[1],
        }
    )
    text = {"oml_version": "0.1.0", "name": "fused", "steps": steps}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(text, sort_keys=False))


def run(project: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    argv = ["run", str(project / "pipeline.yaml"), "--project", str(project), "--json", *flags]
    code = main(argv)
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    result["code"] = code
    return result


def outcome(project: Path, result: dict[str, Any], target: str | None) -> dict[str, Any]:
    """What a run left: its steps (less the fusion's own note), the target's bytes, each
    step's kept sample (output.json and its rows) and the events of each step in order."""
    session = Path(result["session_dir"])
    samples = {}
    for info in sorted((session / "artifacts").glob("*/output.json")):
        rows = duckdb.sql(f"SELECT * FROM '{info.parent / 'output.parquet'}'").fetchall()
        samples[info.parent.name] = (json.loads(info.read_text()), rows)
    steps = [without_fusion(s) for s in result["steps"]]
    events = [
        (e["step_id"], e["event_type"], without_fusion(e["data"]))
        for e in map(json.loads, (session / "events.jsonl").read_text().splitlines())
        if e.get("step_id") and e["event_type"].startswith("execution.step.")
    ]
    path = project / "data" / target if target else None
    return {
        "code": result["code"],
        "steps": steps,
        "file": path.read_bytes() if path and path.exists() else None,
        "samples": samples,
        "events": sorted(events, key=lambda e: e[0]),  # the fused run interleaves the steps
        "data": sorted(p.name for p in (project / "data").rglob("*")),
    }


def without_fusion(step: dict[str, Any]) -> dict[str, Any]:
    """A step's status or event, less its time and the fusion's own note."""
    step = {k: v for k, v in step.items() if k != "duration_ms"}
    details = {k: v for k, v in step.pop("details", {}).items() if k != "fused_into"}
    return {**step, "details": details} if details else step


def both_ways(
    project: Path, capsys: pytest.CaptureFixture[str], target: str | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The run as it fuses (or not), what it left, and what the run step by step left."""
    fused = run(project, capsys)
    fused_outcome = outcome(project, fused, target)
    step_by_step = run(project, capsys, "--keep-data-plane")
    assert not any("fused_into" in s.get("details", {}) for s in step_by_step["steps"])
    return fused, fused_outcome, outcome(project, step_by_step, target)


def started_together(result: dict[str, Any]) -> bool:
    """Whether every step started before the first one ended: the chain ran (or tried to
    run) as one statement."""
    events = [
        json.loads(line)
        for line in Path(result["session_dir"], "events.jsonl").read_text().splitlines()
    ]
    kinds = [e["event_type"] for e in events if e["event_type"].startswith("execution.step.")]
    return kinds[: len(result["steps"])] == ["execution.step.start"] * len(result["steps"])


def fused_into(result: dict[str, Any]) -> dict[str, str]:
    return {
        s["id"]: s["details"]["fused_into"]
        for s in result["steps"]
        if "fused_into" in s.get("details", {})
    }


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_fused_chain_writes_the_same_bytes_rows_and_samples(
    project: Path, capsys: pytest.CaptureFixture[str], reader: str, writer: str
) -> None:
    pipeline(
        project,
        (reader, {"path": READERS[reader]}),
        [PROJECTION],
        (writer, {"path": WRITERS[writer]}),
    )

    fused, fused_outcome, step_by_step = both_ways(project, capsys, WRITERS[writer])

    assert fused_into(fused) == {"extract": "write", "t1": "write"}
    assert started_together(fused)
    assert fused_outcome == step_by_step
    assert [(s["status"], s["rows_read"], s["rows_written"]) for s in fused["steps"]] == [
        ("success", 7, 7)
    ] * 3
    assert set(fused_outcome["samples"]) == {"extract", "t1"}
    if writer == "csv" and reader == "csv":
        assert fused_outcome["file"].decode().splitlines()[1] == (
            "1,PLAIN,158.38,2024-01-02T03:04:05,2024-01-02T01:04:05+00:00,2024-01-02,0.1,false"
        )


def test_a_read_straight_into_its_writer_fuses_and_prints_every_timestamp_alike(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect() as db:
        db.execute(
            "COPY (SELECT * FROM (VALUES "
            "(1, TIMESTAMP '2024-01-02 03:04:05.5', TIMESTAMPTZ '2024-01-02 03:04:05+02'), "
            "(2, TIMESTAMP '0044-03-15 12:00:00' - INTERVAL 100 YEAR, "
            "TIMESTAMPTZ '0044-03-15 12:00:00+00' - INTERVAL 100 YEAR), "
            "(3, TIMESTAMP '12345-06-07 08:09:10', TIMESTAMPTZ '12345-06-07 08:09:10+00'), "
            "(4, 'infinity'::TIMESTAMP, '-infinity'::TIMESTAMPTZ), (5, NULL, NULL)) "
            f"AS v(id, plain, zoned)) TO '{project / 'data' / 'times.parquet'}' (FORMAT parquet)"
        )
    pipeline(project, ("parquet", {"path": "times.parquet"}), [], ("csv", {"path": "out.csv"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "out.csv")

    assert fused_into(fused) == {"extract": "write"}
    assert fused_outcome == step_by_step
    assert fused_outcome["file"].decode().splitlines()[2] == (
        "2,0057-03-15T(BC) 12:00:00,0057-03-15T(BC) 12:00:00+00:00"
    )


def test_transforms_after_one_another_fuse_each_reading_its_own_names(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = "SELECT id * 10 AS id, txt || '!' AS txt, price, ts, tstz, day, ratio, flag FROM df"
    pipeline(project, ("csv", {"path": "in.csv"}), [PROJECTION, second], ("csv", {"path": "o.csv"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.csv")

    assert fused_into(fused) == {"extract": "write", "t1": "write", "t2": "write"}
    assert fused_outcome == step_by_step
    assert fused_outcome["file"].decode().splitlines()[1].startswith("10,PLAIN!,158.38,")


@pytest.mark.parametrize(
    "read, query",
    [
        ({}, "SELECT * FROM df WHERE id > 2"),  # rows dropped: the reader's count is not the COPY's
        ({}, "SELECT txt, count(*) AS n FROM df GROUP BY txt ORDER BY txt"),
        ({}, "SELECT * FROM df LIMIT 3"),  # the read would stop early
        ({}, "SELECT id, txt FROM df"),  # a column left unread
        ({}, "SELECT *, random() < 2 AS r FROM df"),  # the sample, read again, would differ
        ({}, "SELECT *, current_date AS today FROM df"),
        ({"limit": 4}, PROJECTION),
        ({"columns": ["id", "txt"]}, "SELECT id, txt FROM df ORDER BY id DESC"),
    ],
)
def test_a_chain_that_nothing_but_time_could_tell_apart_is_run_step_by_step(
    project: Path, capsys: pytest.CaptureFixture[str], read: dict[str, Any], query: str
) -> None:
    pipeline(project, ("csv", {"path": "in.csv", **read}), [query], ("csv", {"path": "o.csv"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.csv")

    assert fused_into(fused) == {}
    if "random" not in query and "current_date" not in query:
        assert fused_outcome == step_by_step
    assert fused["code"] == 0


def test_a_second_consumer_or_a_retry_keeps_the_tables(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline(project, ("csv", {"path": "in.csv"}), [PROJECTION], ("csv", {"path": "o.csv"}))
    text = yaml.safe_load((project / "pipeline.yaml").read_text())
    text["steps"].append(
        {
            "id": "copy",
            "component": "filesystem.parquet_writer",
            "mode": "write",
            "inputs": {"df": "${extract.df}"},
            "config": {"path": "copy.parquet"},
        }
    )
    (project / "pipeline.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    assert fused_into(run(project, capsys)) == {}

    text["steps"].pop()
    text["steps"][1]["retry"] = {"max_attempts": 2, "backoff_ms": 10}
    (project / "pipeline.yaml").write_text(yaml.safe_dump(text, sort_keys=False))
    assert fused_into(run(project, capsys)) == {}


def test_a_bad_row_fails_the_reader_as_step_by_step_and_leaves_the_old_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the sniffer reads the first 20,480 rows: BIGINT; row 25,000 is not one
    lines = ["id,label"] + [f"{i},row {i}" for i in range(1, 30_001)]
    lines[25_000] = "oops,row 25000"
    (project / "data" / "big.csv").write_text("\n".join(lines) + "\n", "utf-8")
    (project / "data" / "o.csv").write_text("old,file\n", "utf-8")
    query = "SELECT id + 1 AS id, upper(label) AS label FROM df"
    pipeline(project, ("csv", {"path": "big.csv"}), [query], ("csv", {"path": "o.csv"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.csv")

    assert started_together(fused)  # the statement was tried, and failed
    assert fused_outcome["steps"] == step_by_step["steps"]
    extract, transform, write = fused_outcome["steps"]
    assert (extract["status"], extract["category"]) == ("failed", "data")
    assert extract["error"].startswith("a value does not fit its column type")
    assert "oops" in extract["error"]
    assert (transform["status"], transform["reason"]) == (
        "skipped",
        "upstream step 'extract' failed",
    )
    assert (write["status"], write["reason"]) == ("skipped", "upstream step 't1' skipped")
    assert fused_outcome["file"] == step_by_step["file"] == b"old,file\n"
    assert (
        fused_outcome["data"]
        == step_by_step["data"]
        == ["big.csv", "in.csv", "in.json", "in.parquet", "o.csv"]
    )


def test_a_failing_query_fails_its_transform_with_the_same_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "SELECT id, CAST(txt AS INTEGER) AS txt, price, ts, tstz, day, ratio, flag FROM df"
    pipeline(project, ("csv", {"path": "in.csv"}), [query], ("csv", {"path": "o.csv"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.csv")

    assert started_together(fused)
    assert fused_outcome["steps"] == step_by_step["steps"]
    extract, transform, write = fused_outcome["steps"]
    assert (extract["status"], extract["rows_written"]) == ("success", 7)
    assert (transform["status"], transform["category"]) == ("failed", "data")
    assert "plain" in transform["error"]
    assert write["status"] == "skipped"
    assert fused_outcome["samples"] == step_by_step["samples"]


def test_a_writer_failing_fails_only_the_writer(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "data" / "o.csv").write_text("other,header\n1,2\n", "utf-8")
    write = {"path": "o.csv", "write_mode": "append"}
    pipeline(project, ("csv", {"path": "in.csv"}), [PROJECTION], ("csv", write))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.csv")

    assert started_together(fused)
    assert fused_outcome["steps"] == step_by_step["steps"]
    assert [s["status"] for s in fused_outcome["steps"]] == ["success", "success", "failed"]
    assert "header differs" in fused_outcome["steps"][2]["error"]
    assert fused_outcome["file"] == b"other,header\n1,2\n"
    assert fused_outcome["samples"] == step_by_step["samples"]


def test_a_reader_that_cannot_start_fails_alone_as_step_by_step(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline(project, ("csv", {"path": "missing.csv"}), [PROJECTION], ("csv", {"path": "o.csv"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.csv")

    assert not started_together(fused)
    assert fused_outcome == step_by_step  # the same events too: nothing else had started
    extract = fused_outcome["steps"][0]
    assert (extract["status"], extract["category"]) == ("failed", "config")
    assert "no file at 'missing.csv'" in extract["error"]


def test_a_parquet_writer_keeps_the_tables(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its bytes follow the column statistics a table keeps and a scan has not (a column
    with no NULL is written without definition levels), so the file would differ."""
    pipeline(project, ("csv", {"path": "in.csv"}), [PROJECTION], ("parquet", {"path": "o.parquet"}))

    fused, fused_outcome, step_by_step = both_ways(project, capsys, "o.parquet")

    assert fused_into(fused) == {}
    assert fused_outcome == step_by_step
