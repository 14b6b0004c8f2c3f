"""Guidance: the shipped examples as use cases, and an intent read into the next tools to call.

`guide_start` reads the user's words with plain keyword rules (no model, no network):
which of four goals it is (discover, author, run, debug), which component families it
names and in which direction, and which examples share those components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples" / "pipelines"

#: Words that name a component family.
FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "mysql": ("mysql", "mariadb"),
    "postgres": ("postgres", "postgresql", "pg", "psql"),
    "supabase": ("supabase",),
    "filesystem": ("csv", "file", "files", "folder", "spreadsheet"),
}
TRANSFORM_WORDS = (
    "aggregate", "join", "transform", "filter", "sum", "count", "group", "daily", "per",
    "clean", "dedupe", "deduplicate", "sql", "revenue", "average", "total",
)  # fmt: skip
_PREPOSITIONS = ("to", "into", "onto", "from", "in", "of")
GOAL_WORDS: dict[str, tuple[str, ...]] = {
    "debug": ("fail", "failed", "failing", "error", "debug", "broke", "broken", "why", "log"),
    "discover": ("tables", "schema", "schemas", "columns", "what data", "discover", "explore"),
    "run": ("run", "execute", "rerun", "start"),
}

WORKFLOWS: dict[str, list[tuple[str, str]]] = {
    "discover": [
        ("connections_list", "see which connections exist (secrets masked)"),
        ("connections_doctor", "check that the connection answers"),
        ("discovery_request", "read the real tables and columns; tables=[…] narrows it"),
    ],
    "author": [
        ("connections_list", "pick the source and target connections"),
        ("discovery_request", "read the real tables and columns of the source"),
        ("usecases_list", "start from the closest shipped example"),
        ("component_describe", "read the config keys, examples and hints of each component"),
        ("oml_validate", "check the draft; fix each diagnostic at its line and column"),
        ("oml_save", "keep the valid pipeline under pipelines/"),
        ("oml_compile", "get the manifest_hash and the list of targets it will modify"),
        ("run_pipeline", "run the compiled plan (the user confirms database writes)"),
        ("run_status", "follow the run until it finishes"),
    ],
    "run": [
        ("oml_compile", "compile the saved pipeline (pipeline=<name>) for its manifest_hash"),
        ("run_pipeline", "run it; writes to database tables need the user's confirmation"),
        ("run_status", "follow the run with wait_s until it finishes"),
        ("run_logs", "read events, metrics or the bundle"),
    ],
    "debug": [
        ("runs_list", "find the run (newest first; status='failed' narrows it)"),
        ("run_status", "see which step failed and its error"),
        ("run_logs", "kind='bundle' gives the plan, configs, timeline and metrics at once"),
        ("oml_validate", "check the fix before compiling and running again"),
    ],
}


@dataclass(frozen=True)
class Example:
    """One shipped example pipeline."""

    name: str
    title: str
    description: str
    components: tuple[str, ...]
    path: Path

    @property
    def needs_database(self) -> bool:
        return any(c.split(".")[0] not in ("filesystem", "duckdb") for c in self.components)

    @property
    def uri(self) -> str:
        return f"osiris://examples/{self.name}"


def examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    """The example pipelines, by name (their file stems)."""
    from components.common import strict_yaml

    found: list[Example] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        text = path.read_text("utf-8")
        try:
            document: Any = strict_yaml.load(text)
        except strict_yaml.YamlError:
            continue
        if not isinstance(document, dict):
            continue
        first = text.splitlines()[0] if text else ""
        title = first.lstrip("# ").strip() if first.startswith("#") else str(document.get("name"))
        steps = document.get("steps") or []
        components = tuple(str(step.get("component")) for step in steps if isinstance(step, dict))
        found.append(
            Example(
                name=path.stem,
                title=title,
                description=str(document.get("description") or title),
                components=components,
                path=path,
            )
        )
    return found


def read_goal(intent: str) -> str:
    """discover, author, run or debug.

    >>> read_goal("why did last night's run fail?")
    'debug'
    >>> read_goal("what tables do I have in MySQL")
    'discover'
    >>> read_goal("copy orders from MySQL into Postgres daily")
    'author'
    """
    words = _words(intent)
    text = " ".join(words)
    for goal in ("debug", "discover"):
        if any(_has(text, w) for w in GOAL_WORDS[goal]):
            return goal
    if any(_has(text, w) for w in ("copy", "move", "load", "sync", "build", "create", "write")):
        return "author"
    if any(_has(text, w) for w in GOAL_WORDS["run"]):
        return "run"
    return "author"


def suggest_components(intent: str) -> list[tuple[str, str]]:
    """(component, why) for the families the intent names, read side before write side.

    >>> for name, why in suggest_components("copy orders from mysql into postgres"):
    ...     print(name, "-", why)
    mysql.extractor - the intent reads from mysql
    postgres.writer - the intent writes to postgres
    """
    words = _words(intent)
    mentions: list[tuple[int, str]] = []
    for family, names in FAMILY_WORDS.items():
        positions = [i for i, w in enumerate(words) if w in names]
        if positions:
            mentions.append((positions[0], family))
    mentions.sort()
    picks: list[tuple[str, str, str]] = []  # (family, mode, why)
    for position, family in mentions:
        # the nearest preposition before the family word says the direction
        before = words[max(0, position - 3) : position]
        nearest = next((w for w in reversed(before) if w in _PREPOSITIONS), None)
        if nearest in ("to", "into", "onto"):
            picks.append((family, "write", f"the intent writes to {family}"))
        elif nearest in ("from", "in", "of") or family == mentions[0][1]:
            picks.append((family, "read", f"the intent reads from {family}"))
        else:
            picks.append((family, "read", f"the intent names {family}"))
    if len(mentions) == 1 and any(w in ("write", "load", "save", "export") for w in words):
        family = mentions[0][1]
        if not any(mode == "write" for _, mode, _ in picks):
            picks.append((family, "write", f"the intent writes to {family}"))
    suggestions = [(name, why) for family, mode, why in picks if (name := _component(family, mode))]
    if any(w in TRANSFORM_WORDS for w in words):
        suggestions.append(("duckdb.processor", "the intent transforms rows (SQL in DuckDB)"))
    return suggestions


def _component(family: str, mode: str) -> str | None:
    """The component of `family` for `mode` (`mysql`, read → `mysql.extractor`)."""
    from components.registry import default_registry

    return next(
        (s.name for s in default_registry() if s.family == family and mode in s.modes), None
    )


def related_examples(components: list[str], pool: list[Example]) -> list[Example]:
    """Examples sharing the most suggested components (the quick start when none do)."""
    scored = [(len(set(components) & set(e.components)), e.name, e) for e in pool]
    hits = [e for score, _, e in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0]
    if hits:
        return hits[:3]
    return [e for e in pool if e.name == "quickstart"][:1]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None
