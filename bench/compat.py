"""Differential run: the 0.5.7 compatibility corpus through the reference tool and Osiris.

    python bench/compat.py                  # run both tools, write docs/compatibility.md
    python bench/compat.py --reference-cached   # reuse the stored reference verdicts

Each tool gets its own project folder under bench/.work/compat/ holding the corpus and its
osiris_connections.yaml (no real credentials: every secret is an empty ${VAR:-}). The
reference (`osiris-pipeline` 0.5.7, pinned, in its own venv) runs `osiris oml validate
--json` over all files and `osiris compile FILE --json` per file; it accepts a file when
both succeed. Osiris runs `osiris validate --json` and `osiris compile FILE --json`.

The reference's verdicts are kept in tests/corpus/compat/reference_verdicts.json (data
this script writes, never edited by hand). The report explains every disagreement from
each corpus file's own `# why:` line: whichever tool matches the file's expected verdict
under OML v0.1.0 is the one that is right.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    OSIRIS,
    REFERENCE_VERSION,
    ROOT,
    WORK,
    Figure,
    print_figures,
    reference_venv,
    save,
)
from tests.compat.corpus import COMPAT, REFERENCE_VERDICTS, Expectation, corpus

REPORT = ROOT / "docs" / "compatibility.md"
PROJECTS = WORK / "compat"
#: the machine has 2 cores shared with others; the reference takes seconds per process
WORKERS = 2


@dataclass
class Verdict:
    """One tool's answer on one file."""

    accepts: bool
    validate_ok: bool
    compile_ok: bool
    message: str  # the first error (or "" when accepted), for the report
    codes: tuple[str, ...] = ()  # Osiris's error codes (the reference has none to compare)


def project(tool: str, expectations: list[Expectation]) -> Path:
    """A fresh project folder for one tool: the corpus files and the connections file."""
    folder = PROJECTS / tool
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(COMPAT / "osiris_connections.yaml", folder / "osiris_connections.yaml")
    for e in expectations:
        shutil.copy(e.path, folder / e.path.name)
    return folder


def _json_prefix(text: str) -> Any:
    """The first JSON value in `text` (the reference prints a stray line after it)."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except json.JSONDecodeError:
        return None


def _first(messages: list[str]) -> str:
    return next((m for m in messages if m), "")


def run_reference(venv: Path, expectations: list[Expectation]) -> dict[str, Verdict]:
    folder = project("reference", expectations)
    osiris = str(venv / "bin" / "osiris")
    names = [e.path.name for e in expectations]
    done = subprocess.run(
        [osiris, "oml", "validate", "--json", *names],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = _json_prefix(done.stdout) or {}
    validated = {Path(r["file"]).name: r for r in report.get("files", [])}

    def compile_one(name: str) -> tuple[bool, str]:
        out = subprocess.run(
            [osiris, "compile", name, "--json"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        result = _json_prefix(out.stdout) or {}
        ok = out.returncode == 0 and result.get("status") == "success"
        return ok, "" if ok else str(result.get("message") or out.stderr.strip()[-300:])

    with ThreadPoolExecutor(WORKERS) as pool:
        compiled = dict(zip(names, pool.map(compile_one, names), strict=True))
    verdicts = {}
    for e in expectations:
        checked = validated.get(e.path.name, {})
        validate_ok = bool(checked.get("valid"))
        compile_ok, compile_message = compiled[e.path.name]
        errors = [str(x.get("message", "")) for x in checked.get("errors", [])]
        if not checked:
            errors = ["oml validate gave no result for this file"]
        verdicts[e.name] = Verdict(
            accepts=validate_ok and compile_ok,
            validate_ok=validate_ok,
            compile_ok=compile_ok,
            message=_first([*errors, compile_message]),
        )
    return verdicts


def run_osiris(expectations: list[Expectation]) -> dict[str, Verdict]:
    folder = project("osiris", expectations)
    names = [e.path.name for e in expectations]
    base = ["--project", str(folder), "--catalog", "off"]
    done = subprocess.run(
        [*OSIRIS, "validate", "--json", *base, *names],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
    )
    results = _json_prefix(done.stdout) or []
    validated = {Path(r["file"]).name: r for r in results}

    def compile_one(name: str) -> tuple[bool, str]:
        out_dir = folder / "build" / Path(name).stem
        shutil.rmtree(out_dir, ignore_errors=True)
        out = subprocess.run(
            [*OSIRIS, "compile", name, "--json", "--out", str(out_dir), *base],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return out.returncode == 0, "" if out.returncode == 0 else out.stdout.strip()[-300:]

    with ThreadPoolExecutor(WORKERS) as pool:
        compiled = dict(zip(names, pool.map(compile_one, names), strict=True))
    verdicts = {}
    for e in expectations:
        checked = validated.get(e.path.name, {})
        validate_ok = bool(checked.get("valid"))
        compile_ok, compile_message = compiled[e.path.name]
        errors = [
            f"{d['code']} {d['message']}"
            for d in checked.get("diagnostics", [])
            if d.get("severity") == "error"
        ]
        verdicts[e.name] = Verdict(
            accepts=validate_ok and compile_ok,
            validate_ok=validate_ok,
            compile_ok=compile_ok,
            message=_first([*errors, compile_message]),
            codes=tuple(
                sorted(
                    {
                        d["code"]
                        for d in checked.get("diagnostics", [])
                        if d.get("severity") == "error"
                    }
                )
            ),
        )
    return verdicts


def for_its_reason(e: Expectation, ours: Verdict) -> bool:
    """Osiris refuses an invalid file with the codes its header names (or accepts a valid one)."""
    return ours.accepts == e.valid and set(e.errors) <= set(ours.codes)


def store_reference(verdicts: dict[str, Verdict]) -> None:
    """Keep the reference's verdicts beside the corpus, sorted, so a re-run diffs cleanly."""
    data = {
        "tool": f"osiris-pipeline {REFERENCE_VERSION}",
        "commands": ["osiris oml validate --json FILE...", "osiris compile FILE --json"],
        "verdicts": {
            name: {
                "accepts": v.accepts,
                "validate_ok": v.validate_ok,
                "compile_ok": v.compile_ok,
                "message": v.message,
            }
            for name, v in sorted(verdicts.items())
        },
    }
    REFERENCE_VERDICTS.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")


def stored_reference() -> dict[str, Verdict]:
    if not REFERENCE_VERDICTS.exists():
        return {}
    data = json.loads(REFERENCE_VERDICTS.read_text("utf-8"))
    return {name: Verdict(**v) for name, v in data["verdicts"].items()}


def word(accepts: bool) -> str:
    return "accepts" if accepts else "refuses"


def render(
    expectations: list[Expectation], ours: dict[str, Verdict], theirs: dict[str, Verdict]
) -> str:
    rows = [(e, ours[e.name], theirs[e.name]) for e in expectations if e.name in theirs]
    both_accept = sum(o.accepts and t.accepts for _, o, t in rows)
    both_refuse = sum(not o.accepts and not t.accepts for _, o, t in rows)
    only_reference = [(e, o, t) for e, o, t in rows if t.accepts and not o.accepts]
    only_osiris = [(e, o, t) for e, o, t in rows if o.accepts and not t.accepts]
    right = [e for e, o, _ in rows if for_its_reason(e, o)]
    ref_right = [e for e, _, t in rows if t.accepts == e.valid]
    lines = [
        "# Compatibility with osiris-pipeline 0.5.7",
        "",
        "Generated by `python bench/compat.py` (also run by `make bench`); do not edit by hand.",
        f"The corpus is {len(expectations)} OML files of our own writing under "
        "`tests/corpus/compat/pipelines/`, in the 0.5.7 idiom, valid and invalid; each "
        "file's header states the verdict OML v0.1.0 gives it and why. Both tools ran on "
        "every file, each in its own project folder with the corpus's "
        "`osiris_connections.yaml`.",
        "",
        f"- Reference: osiris-pipeline {REFERENCE_VERSION} (own venv): `osiris oml validate "
        "--json` and `osiris compile FILE --json`; it accepts a file when both succeed.",
        "- Osiris: `osiris validate --json` and `osiris compile FILE --json`.",
        "",
        "## Agreement",
        "",
        "| | files |",
        "|---|---|",
        f"| both accept | {both_accept} |",
        f"| both refuse | {both_refuse} |",
        f"| only the reference accepts | {len(only_reference)} |",
        f"| only Osiris accepts | {len(only_osiris)} |",
        f"| **agree** | **{both_accept + both_refuse} of {len(rows)}** |",
        "",
        f"Against the expected verdicts: Osiris is right on {len(right)} of {len(rows)} "
        f"files (an invalid one only when refused with the expected codes), the reference "
        f"on {len(ref_right)} (by verdict: it has no codes).",
        "",
    ]
    if len(rows) < len(expectations):
        missing = sorted(e.name for e in expectations if e.name not in theirs)
        lines += [
            f"**{len(missing)} corpus files have no stored reference verdict** "
            f"({', '.join(missing)}): run `python bench/compat.py` to record them.",
            "",
        ]
    lines += ["## Disagreements", ""]
    disagreements = sorted(only_reference + only_osiris, key=lambda r: r[0].name)
    if not disagreements:
        lines += ["None.", ""]
    else:
        lines += [
            "| file | reference | Osiris | right under OML v0.1.0 | why | the refusing side said |",
            "|---|---|---|---|---|---|",
        ]
        for e, o, t in disagreements:
            side = "Osiris" if o.accepts == e.valid else "reference"
            if side == "Osiris" and not for_its_reason(e, o):
                side = f"Osiris, not yet for its reason ({', '.join(e.errors)})"
            said = (o if t.accepts else t).message
            lines.append(
                f"| `{e.name}` | {word(t.accepts)} | {word(o.accepts)} | {side} | "
                f"{_cell(e.why)} | {_cell(said[:160])} |"
            )
        lines.append("")
    wrong = [(e, o) for e, o, _ in rows if not for_its_reason(e, o)]
    lines += ["## Where Osiris misses its expected verdict or codes", ""]
    if not wrong:
        lines += ["None: every corpus file gets the verdict its header states.", ""]
    else:
        lines += ["| file | expected | Osiris says |", "|---|---|---|"]
        for e, o in wrong:
            said = word(o.accepts) + (f": {_cell(o.message)}" if o.message else "")
            expected = "valid" if e.valid else "invalid " + ", ".join(e.errors)
            lines.append(f"| `{e.name}` | {expected} | {said} |")
        lines.append("")
    lines += [
        "## Every file",
        "",
        "| file | expected | reference | Osiris |",
        "|---|---|---|---|",
    ]
    for e, o, t in rows:
        expected = "valid" if e.valid else "invalid " + ", ".join(e.errors)
        lines.append(f"| `{e.name}` | {expected} | {word(t.accepts)} | {word(o.accepts)} |")
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--reference-cached",
        action="store_true",
        help="reuse tests/corpus/compat/reference_verdicts.json instead of running 0.5.7",
    )
    args = parser.parse_args()
    expectations = corpus()
    venv = None if args.reference_cached else reference_venv()
    reference_seconds = None
    if venv is not None:
        t0 = time.perf_counter()
        theirs = run_reference(venv, expectations)
        reference_seconds = time.perf_counter() - t0
        store_reference(theirs)
    else:
        theirs = stored_reference()
    t0 = time.perf_counter()
    ours = run_osiris(expectations)
    osiris_seconds = time.perf_counter() - t0
    REPORT.write_text(render(expectations, ours, theirs), encoding="utf-8")
    shutil.rmtree(PROJECTS, ignore_errors=True)
    rows = [e for e in expectations if e.name in theirs]
    agree = sum(ours[e.name].accepts == theirs[e.name].accepts for e in rows)
    right = sum(for_its_reason(e, ours[e.name]) for e in expectations)
    figures = [
        Figure(
            "corpus files both tools judge alike",
            "files",
            agree,
            note=f"of {len(rows)}; Osiris matches the expected verdict on {right} of "
            f"{len(expectations)} (docs/compatibility.md)",
        ),
        Figure(
            f"validate + compile the corpus ({len(expectations)} files, 1 + N processes)",
            "s",
            round(osiris_seconds, 2),
            reference=round(reference_seconds, 2) if reference_seconds else None,
            runs=1,
        ),
    ]
    print_figures("compat", figures)
    save("compat", figures)
    print(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
