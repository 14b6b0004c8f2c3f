"""Running part of a plan: `osiris run --select STEP | STEP+ | +STEP`.

`STEP` runs that step, `STEP+` it and every step downstream of it, `+STEP` it and every
step it depends on. A selected step still needs its inputs: an upstream step left out is
*reused* — its table loaded from the last run of the same plan (same manifest hash) that
kept its whole output (`--keep-outputs`) — and where no such output exists it runs too.
Every other step is skipped, "not selected". So a selection never reads stale data: a
reused table is exactly what this plan made, and anything else is computed again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.manifest import ManifestStep
from components.common.errors import HintedError
from runtime.outputs import OUTPUT_INFO


class SelectionError(HintedError, ValueError):
    """A selector naming no step of the plan; `hint` lists the close names."""


@dataclass
class Selection:
    run: set[str]
    #: step id -> the kept whole output (parquet) to load instead of running it
    reuse: dict[str, Path] = field(default_factory=dict)
    #: the run whose outputs are reused
    reused_from: str | None = None


def upstreams(step: ManifestStep) -> list[str]:
    """The steps `step` depends on: its tables' steps and its `needs`."""
    tables = step.tables or step.inputs
    return list(dict.fromkeys([*tables.values(), *step.needs]))


def select(
    steps: Sequence[ManifestStep],
    selectors: Iterable[str],
    project: Path,
    pipeline: str,
    manifest_hash: str,
    files: Mapping[str, Sequence[Path]] | None = None,
) -> Selection:
    """What to run and what to reuse. `files`: step id -> the files it reads; a kept
    output is valid only if none of them changed after the run that kept it began."""
    by_id = {step.id: step for step in steps}
    downstream: dict[str, list[str]] = {}
    for step in steps:
        for up in upstreams(step):
            downstream.setdefault(up, []).append(step.id)
    chosen: set[str] = set()
    for selector in selectors:
        name = selector.strip("+")
        if name not in by_id:
            from compiler.diagnostics import did_you_mean, suggestion_hint

            close = suggestion_hint(did_you_mean(name, by_id))
            raise SelectionError(
                f"--select {selector}: no step '{name}' in the plan",
                f"{close} the steps are: {', '.join(by_id)}" if close else "",
            )
        chosen.add(name)
        if selector.startswith("+"):
            chosen |= _closure(name, lambda s: upstreams(by_id[s]))
        if selector.endswith("+"):
            chosen |= _closure(name, lambda s: downstream.get(s, []))
    kept, run_id = _kept_outputs(project, pipeline, manifest_hash, files or {})
    selection = Selection(run=set(chosen))
    waiting = list(chosen)
    while waiting:
        for up in upstreams(by_id[waiting.pop()]):
            if up in selection.run or up in selection.reuse:
                continue
            if up in kept:
                selection.reuse[up] = kept[up]
            else:  # nothing valid to reuse: it runs again, and so may its own inputs
                selection.run.add(up)
                waiting.append(up)
    if selection.reuse:
        selection.reused_from = run_id
    return selection


def _closure(start: str, neighbours: Any) -> set[str]:
    found: set[str] = set()
    waiting = [start]
    while waiting:
        for other in neighbours(waiting.pop()):
            if other not in found:
                found.add(other)
                waiting.append(other)
    return found


def _kept_outputs(
    project: Path, pipeline: str, manifest_hash: str, files: Mapping[str, Sequence[Path]]
) -> tuple[dict[str, Path], str | None]:
    """The whole step outputs of the newest run of this very plan that kept them, but
    none of a step whose source files changed since that run began."""
    from runtime.sessions import list_runs

    for run in list_runs(project, pipeline):
        if run.get("manifest_hash") != manifest_hash:
            continue
        session = Path(run["session_dir"])
        began = _timestamp(run.get("started_at"))
        kept: dict[str, Path] = {}
        for step in run.get("steps", []):
            step_id = str(step["id"])
            if step.get("status") != "success" or _changed(files.get(step_id, ()), began):
                continue
            folder = session / "artifacts" / step_id
            try:
                info = json.loads((folder / OUTPUT_INFO).read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if info.get("whole") and (folder / str(info.get("file"))).is_file():
                kept[step_id] = folder / str(info["file"])
        if kept:
            return kept, str(run.get("session_id"))
    return {}, None


def _timestamp(text: Any) -> float | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _changed(paths: Iterable[Path], began: float | None) -> bool:
    """Whether a source file is gone or was modified after `began` (unknown: changed)."""
    if began is None:
        return True
    for path in paths:
        try:
            if path.stat().st_mtime >= began:
                return True
        except OSError:
            return True
    return False
