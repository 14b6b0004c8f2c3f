"""A run as one self-contained HTML page: the step timeline (inline SVG), rows in and out
per step, errors with their hints, the event log and the plan's column lineage.

The page loads nothing: no script, no stylesheet or font from elsewhere, and a
Content-Security-Policy that forbids fetching anything, so it opens the same offline, from
a mail attachment or a CI artifact. Every string on it passes the redactor first (the
session's files are already redacted; this also masks any secret value of the project's
connections that is known now), then HTML escaping.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runtime.redaction import Redactor
from runtime.sessions import read_jsonl, read_status

#: events kept on the page; a run of thousands of progress events shows the first ones
MAX_EVENTS = 2000
_STATUS_COLOURS = {
    "success": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "cancelled": "#ef6c00",
    "running": "#1565c0",
    "pending": "#bdbdbd",
}
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#212121}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:2rem 0 .6rem}
table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #e0e0e0;
padding:.3rem .5rem;text-align:left;vertical-align:top} th{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums} code,pre{font-family:ui-monospace,
monospace;font-size:12px} pre{white-space:pre-wrap;margin:0} .status{font-weight:600}
.error{background:#ffebee;border-left:4px solid #c62828;padding:.6rem .8rem;margin:.5rem 0}
.hint{color:#1b5e20} .meta{color:#616161}
"""


def render(session_dir: Path, redactor: Redactor | None = None) -> str:
    """The report page of the run in `session_dir`."""
    redactor = redactor or Redactor()
    status = redactor.data(read_status(session_dir))
    events = [redactor.data(e) for e in _take(read_jsonl(session_dir / "events.jsonl"))]
    lineage = _lineage(session_dir, redactor)
    hints = _hints(events)
    steps: list[dict[str, Any]] = list(status.get("steps") or [])
    title = f"Osiris run {status.get('session_id')} — {status.get('pipeline')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f'<h1 id="title">{_e(title)}</h1>',
        _summary(status),
        '<h2>Timeline</h2><div id="timeline">',
        _timeline(steps, events),
        "</div>",
        '<h2>Steps</h2><table id="steps"><thead><tr><th>step</th><th>component</th>'
        "<th>status</th><th>rows in</th><th>rows out</th><th>time</th></tr></thead><tbody>",
        *(_step_row(step) for step in steps),
        "</tbody></table>",
        _errors(status, steps, hints, _diagnostics(events)),
        '<h2>Lineage</h2><div id="lineage">',
        _lineage_table(lineage),
        "</div>",
        f'<h2>Events</h2><table id="events"><thead><tr><th>time</th><th>event</th>'
        f"<th>step</th><th>data</th></tr></thead><tbody>{_event_rows(events)}</tbody></table>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _summary(status: dict[str, Any]) -> str:
    state = str(status.get("status"))
    colour = _STATUS_COLOURS.get(state, "#212121")
    duration = _seconds(status.get("duration_ms"))
    return (
        f'<p class="meta">status <span id="run-status" class="status" style="color:{colour}">'
        f"{_e(state)}</span> · started {_e(status.get('started_at'))} · {duration} · "
        f"manifest <code>{_e(str(status.get('manifest_hash') or '—')[:12])}</code></p>"
    )


def _timeline(steps: list[dict[str, Any]], events: list[dict[str, Any]]) -> str:
    """One bar per step from its first start event to its last end event, in an SVG."""
    if not steps:
        return '<p class="meta">no step ran</p>'
    origin: dt.datetime | None = None
    spans: dict[str, list[dt.datetime]] = {}
    for event in events:
        when = _time(event.get("timestamp"))
        if when is None:
            continue
        if event.get("event_type") == "execution.start" and origin is None:
            origin = when
        step = event.get("step_id")
        if step and str(event.get("event_type", "")).startswith("execution.step."):
            spans.setdefault(str(step), []).append(when)
    starts = [t for times in spans.values() for t in times]
    origin = origin or (min(starts) if starts else None)
    if origin is None:
        return '<p class="meta">no step events recorded</p>'
    total = max([(t - origin).total_seconds() for t in starts] + [0.001])
    label_w, chart_w, row_h = 180, 620, 26
    height = row_h * len(steps) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + chart_w + 90}" '
        f'height="{height}" aria-label="step timeline">'
    ]
    for index, step in enumerate(steps):
        name = str(step.get("id"))
        times = spans.get(name) or [origin]
        begin = (min(times) - origin).total_seconds()
        end = (max(times) - origin).total_seconds()
        x = label_w + chart_w * begin / total
        width = max(chart_w * (end - begin) / total, 2.0)
        y = index * row_h + 4
        colour = _STATUS_COLOURS.get(str(step.get("status")), "#616161")
        out.append(
            f'<g class="bar" data-step="{_e(name)}"><text x="0" y="{y + 15}" '
            f'font-size="12">{_e(name)}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{row_h - 8}" '
            f'fill="{colour}"><title>{_e(name)}: {_e(step.get("status"))}, '
            f"{_seconds(step.get('duration_ms'))}</title></rect>"
            f'<text x="{x + width + 4:.1f}" y="{y + 15}" font-size="11">'
            f"{_seconds(step.get('duration_ms'))}</text></g>"
        )
    axis_y = row_h * len(steps) + 20
    out.append(
        f'<text x="{label_w}" y="{axis_y}" font-size="11" fill="#616161">0 s</text>'
        f'<text x="{label_w + chart_w}" y="{axis_y}" font-size="11" fill="#616161" '
        f'text-anchor="end">{total:.2f} s</text></svg>'
    )
    return "".join(out)


def _step_row(step: dict[str, Any]) -> str:
    state = str(step.get("status"))
    colour = _STATUS_COLOURS.get(state, "#212121")
    return (
        f'<tr data-step="{_e(step.get("id"))}"><td>{_e(step.get("id"))}</td>'
        f"<td><code>{_e(step.get('component'))}</code></td>"
        f'<td class="status" style="color:{colour}">{_e(state)}</td>'
        f'<td class="num rows-in">{_count(step.get("rows_read"))}</td>'
        f'<td class="num rows-out">{_count(step.get("rows_written"))}</td>'
        f'<td class="num">{_seconds(step.get("duration_ms"))}</td></tr>'
    )


def _errors(
    status: dict[str, Any],
    steps: list[dict[str, Any]],
    hints: dict[str, str],
    diagnostics: list[dict[str, Any]],
) -> str:
    blocks = []
    if status.get("error"):
        blocks.append(f'<div class="error"><pre>{_e(status["error"])}</pre></div>')
    for diagnostic in diagnostics:  # a run that never started: what the compiler said
        where = f"{diagnostic.get('line', '?')}:{diagnostic.get('column', '?')}"
        hint = diagnostic.get("hint")
        hint_html = f'<p class="hint">hint: {_e(hint)}</p>' if hint else ""
        blocks.append(
            f'<div class="error diagnostic"><strong>{_e(diagnostic.get("code"))}</strong> '
            f"at {_e(where)}<pre>{_e(diagnostic.get('message'))}</pre>{hint_html}</div>"
        )
    for step in steps:
        if not step.get("error"):
            continue
        hint = hints.get(str(step.get("id")))
        hint_html = f'<p class="hint">hint: {_e(hint)}</p>' if hint else ""
        blocks.append(
            f'<div class="error" data-step="{_e(step.get("id"))}"><strong>{_e(step.get("id"))}'
            f"</strong> ({_e(step.get('category'))})<pre>{_e(step['error'])}</pre>{hint_html}</div>"
        )
    if not blocks:
        return ""
    return '<h2>Errors</h2><div id="errors">' + "".join(blocks) + "</div>"


def _hints(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each failed step's hint, from its last error event."""
    found: dict[str, str] = {}
    for event in events:
        data = event.get("data") or {}
        if event.get("event_type") == "execution.step.error" and data.get("hint"):
            found[str(event.get("step_id"))] = str(data["hint"])
    return found


def _diagnostics(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The diagnostics of a compilation that failed (`compilation.error`)."""
    found: list[dict[str, Any]] = []
    for event in events:
        if event.get("event_type") == "compilation.error":
            listed = (event.get("data") or {}).get("diagnostics") or []
            found += [d for d in listed if isinstance(d, dict)]
    return found


def _lineage(session_dir: Path, redactor: Redactor) -> dict[str, Any]:
    path = session_dir / "lineage.json"
    try:
        data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return redactor.data(data) if isinstance(data, dict) else {}


def _lineage_table(lineage: dict[str, Any]) -> str:
    rows = []
    for step, columns in sorted(lineage.items()):
        if not isinstance(columns, dict):
            continue
        for column, entry in sorted(columns.items()):
            sources = entry.get("sources", []) if isinstance(entry, dict) else []
            rows.append(
                f'<tr data-step="{_e(step)}"><td>{_e(step)}</td><td>{_e(column)}</td>'
                f"<td>{_e(', '.join(str(s) for s in sources) or '—')}</td></tr>"
            )
    if not rows:
        return '<p class="meta">no lineage recorded for this run</p>'
    return (
        "<table><thead><tr><th>step</th><th>column</th><th>from</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _event_rows(events: list[dict[str, Any]]) -> str:
    rows = []
    for event in events:
        data = json.dumps(event.get("data", {}), ensure_ascii=False, sort_keys=True)
        rows.append(
            f"<tr><td><code>{_e(event.get('timestamp'))}</code></td>"
            f"<td>{_e(event.get('event_type'))}</td><td>{_e(event.get('step_id') or '')}</td>"
            f"<td><pre>{_e(data)}</pre></td></tr>"
        )
    return "".join(rows)


def _take(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = []
    for index, event in enumerate(events):
        if index >= MAX_EVENTS:
            break
        kept.append(event)
    return kept


def _time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds(ms: Any) -> str:
    return f"{ms / 1000:.2f} s" if isinstance(ms, int | float) else "—"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "—"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)
