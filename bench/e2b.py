"""The E2B adapter's own cost, measured with the local process sandbox (no cloud here).

    python bench/e2b.py [--runs 9]

Figures (issue 7): the adapter's overhead over a local run of the quick-start pipeline
(prepare + transfer + collect, and the fresh interpreter inside), once the wheel and its
environment are cached — target < 1 s; and the event streaming latency, from an event
written inside the sandbox to its line in the local events.jsonl — target < 100 ms.
Also: the first run with cold caches (wheel build + environment), the adapter's own
`e2b_overhead_ms` breakdown, and both as the user sees them through `osiris run`.
Medians of interleaved runs; nothing asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    OSIRIS,
    ROOT,
    WORK,
    Figure,
    median,
    percentile,
    precompile,
    print_figures,
    run_measured,
    save,
)


def project(work: Path) -> Path:
    target = work / "project"
    shutil.rmtree(target, ignore_errors=True)
    (target / "data").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "osiris_connections.yaml", target)
    for name in ("orders.csv", "customers.csv"):
        shutil.copy(ROOT / "examples" / "data" / name, target / "data" / name)
    shutil.copy(ROOT / "examples" / "pipelines" / "quickstart.yaml", target)
    return target


def arrival_latencies(arrivals: list[tuple[float, dict[str, Any]]]) -> list[float]:
    """ms from each event's timestamp (written inside) to its arrival in the local file."""
    found = []
    for arrived, event in arrivals:
        if event["event_type"].startswith("compilation."):
            continue  # written locally, not streamed
        stamp = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        found.append((arrived - stamp.timestamp()) * 1000)
    return found


def main(runs: int = 9) -> list[Figure]:
    precompile()
    from compiler.compile import default_context
    from compiler.emit import compile_source
    from runtime.adapters import RunRequest
    from runtime.adapters.e2b import E2BOptions, run_in_sandbox
    from runtime.adapters.local import run_build
    from runtime.adapters.sandbox import LocalProcessTransport
    from runtime.builds import write_build
    from runtime.sessions import read_jsonl

    work = WORK / "e2b"
    cache = work / "sandbox-cache"
    shutil.rmtree(cache, ignore_errors=True)
    home = project(work)
    result = compile_source((home / "quickstart.yaml").read_bytes(), default_context())
    assert result.ok, result.diagnostics
    build_dir = write_build(result.files, home / "build" / result.manifest_short)
    output = home / "output" / "revenue_by_customer.csv"
    arrivals: list[tuple[float, dict[str, Any]]] = []

    def on_event(event: dict[str, Any]) -> None:
        arrivals.append((time.time(), event))  # called once the line is in events.jsonl

    def local() -> float:
        t0 = time.perf_counter()
        collected = run_build(RunRequest(build_dir, home))
        assert collected.status == "success"
        return time.perf_counter() - t0

    def sandboxed(transport: LocalProcessTransport) -> tuple[float, dict[str, Any]]:
        output.unlink(missing_ok=True)
        t0 = time.perf_counter()
        request = RunRequest(build_dir, home, on_event=on_event)
        collected = run_in_sandbox(request, E2BOptions(data=True), transport)
        seconds = time.perf_counter() - t0
        assert collected.status == "success", collected.error
        assert output.is_file()
        (overhead,) = [
            m
            for m in read_jsonl(collected.session_dir / "metrics.jsonl")
            if m["metric"] == "e2b_overhead_ms"
        ]
        return seconds, overhead

    shutil.rmtree(home / ".osiris", ignore_errors=True)  # no cached wheel either
    cold, _ = sandboxed(LocalProcessTransport(cache, workdir=work / "sandboxes"))
    arrivals.clear()
    local()
    local_s, sandbox_s, overheads = [], [], []
    for _ in range(runs):
        local_s.append(local())
        seconds, overhead = sandboxed(LocalProcessTransport(cache, workdir=work / "sandboxes"))
        sandbox_s.append(seconds)
        overheads.append(overhead)
    latencies = arrival_latencies(arrivals)

    env = {**os.environ, "OSIRIS_E2B_SANDBOX": "local", "OSIRIS_SANDBOX_CACHE": str(cache)}
    argv = [*OSIRIS, "run", "quickstart.yaml", "--project", "."]
    cli_local, cli_e2b = [], []
    for _ in range(max(3, runs // 2)):
        done = run_measured(argv, cwd=home, env=env)
        assert done.returncode == 0, done.stderr
        cli_local.append(done.seconds)
        done = run_measured([*argv, "--e2b", "--e2b-data"], cwd=home, env=env)
        assert done.returncode == 0, done.stderr
        cli_e2b.append(done.seconds)

    overhead_s = median(sandbox_s) - median(local_s)
    latency = median(latencies)
    parts = {
        name: median([o["tags"][name] for o in overheads])
        for name in ("create_ms", "install_ms", "upload_ms", "run_ms", "download_ms", "kill_ms")
    }
    figures = [
        Figure(
            "adapter overhead over a local run (cached)",
            "ms",
            round(overhead_s * 1000, 1),
            target="< 1 s",
            met=overhead_s < 1.0,
            runs=runs,
            note=f"local run {median(local_s) * 1000:.0f} ms, through the sandbox "
            f"{median(sandbox_s) * 1000:.0f} ms (quick start, in-process API)",
        ),
        Figure(
            "event streaming latency (median)",
            "ms",
            round(latency, 1),
            target="< 100 ms",
            met=latency < 100,
            runs=len(latencies),
            note=f"p95 {percentile(latencies, 95):.1f} ms, max {max(latencies):.1f} ms over "
            f"{len(latencies)} events; timestamps have 1 ms resolution",
        ),
        Figure(
            "e2b_overhead_ms (create+install+upload+download)",
            "ms",
            round(median([float(o["value"]) for o in overheads]), 1),
            runs=runs,
            note=", ".join(f"{k.removesuffix('_ms')} {v:.0f}" for k, v in parts.items()) + " ms",
        ),
        Figure(
            "first run, cold caches (wheel + environment)",
            "ms",
            round(cold * 1000, 1),
            runs=1,
            note="built once per version of the code; E2B installs from PyPI instead",
        ),
        Figure(
            "osiris run --e2b (local sandbox), whole process",
            "ms",
            round(median(cli_e2b) * 1000, 1),
            runs=len(cli_e2b),
            note=f"osiris run without --e2b: {median(cli_local) * 1000:.0f} ms",
        ),
    ]
    print_figures("e2b adapter (local process sandbox)", figures)
    save("e2b", figures)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    main(parser.parse_args().runs)
