"""Shared plumbing for the benchmark scripts: timing, peak memory, the reference tool.

Benchmarks report medians of several interleaved runs and ratios against the reference
tool (`osiris-pipeline` 0.5.7) measured in the same script on the same machine. They
print figures; they never assert. `make bench` runs them all and writes
docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
OSIRIS = [str(Path(sys.executable).with_name("osiris"))]
REFERENCE_VERSION = "0.5.7"


@dataclass
class Figure:
    """One measured figure, as it goes into the report."""

    name: str
    unit: str  # "ms", "s", "rows/s", "MB"
    osiris: float | None
    reference: float | None = None
    floor: float | None = None
    floor_label: str | None = None
    target: str | None = None  # e.g. "< 50 ms"
    met: bool | None = None
    peak_mb: float | None = None
    reference_peak_mb: float | None = None
    note: str | None = None
    runs: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.osiris and self.reference:
            if self.unit == "rows/s":
                return self.osiris / self.reference
            return self.reference / self.osiris
        return None

    @property
    def floor_ratio(self) -> float | None:
        """How many times the floor's time Osiris took (1.0 is the floor itself)."""
        if self.osiris and self.floor:
            if self.unit == "rows/s":
                return self.floor / self.osiris
            return self.osiris / self.floor
        return None


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_call(fn: Callable[[], object], runs: int = 7, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of each call after `warmup` discarded ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


@dataclass
class ProcessRun:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(
    argv: Sequence[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> ProcessRun:
    """Like run_process, but the peak RSS is this child's alone (via a wrapper process)."""
    wrapper = (
        "import resource, subprocess, sys, json, time;"
        "t0 = time.perf_counter();"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "t = time.perf_counter() - t0;"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "sys.stdout.write(json.dumps({'s': t, 'mb': rss, 'rc': p.returncode, "
        "'out': p.stdout[-4000:], 'err': p.stderr[-4000:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    data = json.loads(done.stdout)
    return ProcessRun(data["s"], data["mb"], data["rc"], data["out"], data["err"])


def precompile() -> None:
    """Byte-compile our packages, as a wheel install would.

    This machine sets PYTHONDONTWRITEBYTECODE, so an editable checkout would otherwise
    recompile every module in every cold process; site-packages (ours and the
    reference's) were compiled by pip at install time.
    """
    import compileall

    for package in ("grammar", "compiler", "components", "runtime", "osiris_mcp"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def reference_venv() -> Path | None:
    """The reference tool's virtual environment, installed on first use.

    It installs a top-level `components` package, so it never goes into our venv.
    Set OSIRIS_REF_VENV to reuse an existing one; OSIRIS_BENCH_NO_REF=1 skips it.
    """
    if os.environ.get("OSIRIS_BENCH_NO_REF"):
        return None
    chosen = os.environ.get("OSIRIS_REF_VENV")
    venv = Path(chosen) if chosen else WORK / "refenv"
    if (venv / "bin" / "osiris").exists():
        return venv
    print(f"installing osiris-pipeline=={REFERENCE_VERSION} into {venv} …", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            # its MCP server imports `mcp` (1.x) without declaring it
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                f"osiris-pipeline=={REFERENCE_VERSION}",
                "mcp<2",
            ],
            check=True,
        )
    except (subprocess.CalledProcessError, OSError) as err:
        print(f"reference tool unavailable: {err}", file=sys.stderr)
        return None
    return venv


def print_figures(title: str, figures: Sequence[Figure]) -> None:
    print(f"\n== {title}")
    for f in figures:
        ours = _fmt(f.osiris, f.unit)
        ref = _fmt(f.reference, f.unit) if f.reference is not None else "—"
        ratio = f"{f.ratio:.1f}x" if f.ratio else "—"
        target = f"target {f.target}: {'PASS' if f.met else 'MISS'}" if f.target else ""
        mem = f"  peak {f.peak_mb:.0f} MB" if f.peak_mb else ""
        refmem = f" (ref {f.reference_peak_mb:.0f} MB)" if f.reference_peak_mb else ""
        floor = ""
        if f.floor_ratio:
            floor = f"  floor {_fmt(f.floor, f.unit)} ({f.floor_label}) {f.floor_ratio:.2f}x"
        head = f"  {f.name:<46} osiris {ours:>12}  reference {ref:>12}  {ratio:>7}"
        print(f"{head}{mem}{refmem}{floor}  {target}")
        if f.note:
            print(f"      note: {f.note}")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:g} {unit}"


def save(name: str, figures: Sequence[Figure], notes: Sequence[str] = (), **more: object) -> None:
    """Keep the figures for bench/all.py, which writes docs/benchmarks.md.

    A suite with `notes` (lines the report prints under its table) or other numbers of its
    own (`more`, e.g. a fitted model) is saved as {"figures": [...], "notes": [...], ...}.
    """
    WORK.mkdir(parents=True, exist_ok=True)
    data: object = [asdict(f) for f in figures]
    if notes or more:
        data = {"figures": data, "notes": list(notes), **more}
    (WORK / f"{name}.json").write_text(json.dumps(data, indent=2))
