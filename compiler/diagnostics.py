"""Diagnostics: the one shape every problem takes, from YAML syntax to an unknown SQL column."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]

# Every code Osiris can emit, with a one-line title. `docs/diagnostics.md` documents each
# one with an example (a test keeps the two in step). Codes are stable: never reuse one.
CODES: dict[str, str] = {
    # OML0xx — the file and its YAML
    "OML001": "YAML syntax error",
    "OML002": "empty document",
    "OML003": "file is not UTF-8 text",
    "OML004": "file too large",
    "OML005": "duplicate key",
    "OML006": "YAML tag not allowed",
    "OML007": "YAML anchor or alias not allowed",
    "OML008": "YAML merge key not allowed",
    "OML009": "more than one YAML document",
    "OML010": "document nested too deeply",
    # OML1xx — document structure
    "OML100": "document is not a mapping",
    "OML101": "required key missing",
    "OML102": "key not part of OML v0.1.0",
    "OML103": "unknown key",
    "OML104": "wrong type",
    "OML105": "YAML reads this unquoted value as another type",
    "OML106": "unsupported oml_version",
    "OML107": "steps is empty",
    "OML108": "invalid identifier",
    "OML109": "duplicate step id",
    "OML110": "invalid mode",
    "OML112": "value out of range",
    # OML2xx — references and graph
    "OML200": "expression syntax error",
    "OML201": "reference to an unknown step",
    "OML202": "reference to an undeclared param",
    "OML203": "needs names an unknown step",
    "OML204": "dependency cycle",
    "OML205": "step depends on itself",
    "OML206": "run-time result used outside when",
    "OML207": "unknown run-time result",
    "OML208": "input is not a single step reference",
    "OML209": "unknown connection",
    "OML210": "invalid connection reference",
    "OML211": "step reference not allowed here",
    "OML212": "step reads the previous step implicitly",
    # OML3xx — components and config
    "OML300": "unknown component",
    "OML301": "mode not supported by the component",
    "OML302": "required config key missing",
    "OML303": "unknown config key",
    "OML304": "invalid config value",
    "OML305": "config overrides a connection field",
    "OML306": "config overrides a connection field (discouraged)",
    "OML307": "component constraint not met",
    "OML308": "wrong number of upstream tables",
    "OML309": "older config key name",
    "OML310": "config key has no effect",
    "OML311": "0.5.7 config key not supported",
    # SQL4xx — SQL
    "SQL400": "SQL syntax error",
    "SQL401": "more than one SQL statement",
    "SQL402": "statement is not a read-only query",
    "SQL403": "function not allowed",
    "SQL404": "construct not allowed in a read-only query",
    "SQL405": "unknown table in transform",
    "SQL406": "table function not allowed in transform",
    "SQL407": "unknown table",
    "SQL408": "unknown column",
    "SQL409": "ambiguous column",
    "SQL410": "character the database may read differently",
    "SQL411": "param value is SQL text, not one value",
    "SQL412": "DuckDB refuses the transform",
    "SQL413": "the database server refuses the query (--verify-sql)",
    "SQL414": "the query could not be verified (--verify-sql)",
    "SQL415": "no Spark SQL equivalent (--engine spark)",
    "SQL416": "Spark may compute it differently (--engine spark)",
    "SQL417": "output column without a name both engines give it (--engine spark)",
    "SQL418": "Spark refuses the transform (--engine spark)",
    "SQL419": "the Spark SQL could not be checked (--engine spark)",
    # SEC5xx — secrets and safety
    "SEC501": "secret written inline",
    "SEC502": "secret-looking key holds a literal",
    "SEC503": "password inside a URL",
    "SEC504": "path escapes the project",
    # PAR6xx — params and profiles
    "PAR601": "param has no value",
    "PAR602": "param value has the wrong type",
    "PAR603": "param value not in enum",
    "PAR604": "param value out of range",
    "PAR605": "value given for an undeclared param",
    "PAR606": "unknown profile",
    "PAR607": "invalid param declaration",
    # INT9xx — internal
    "INT900": "internal error",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, pinned to a place in the user's file."""

    code: str
    message: str
    severity: Severity = "error"
    path: str = ""
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0
    hint: str | None = None
    suggestions: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"undocumented diagnostic code {self.code!r}")

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of DESIGN.md section 4 (empty optional fields left out)."""
        data = asdict(self)
        data["suggestions"] = list(self.suggestions)
        if not data["suggestions"]:
            del data["suggestions"]
        if data["hint"] is None:
            del data["hint"]
        return data


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def sort_key(d: Diagnostic) -> tuple[int, int, str, str]:
    return (d.line, d.column, d.code, d.message)


#: A JSON Schema type as a message names what a value must be ("must be a mapping"): the
#: same words whether the OML model (structure) or a component's config schema refused it.
TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def did_you_mean(word: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """Close matches for a misspelled name, best first."""
    pool = sorted(set(candidates))
    scored = sorted(
        ((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in pool),
        key=lambda pair: (-pair[0], pair[1]),
    )
    best = scored[0][0] if scored else 0.0
    # only the near-best: a clear winner is offered alone
    close = [c for ratio, c in scored[:3] if ratio >= max(0.6, best - 0.08)]
    if not close:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return tuple(close)


def suggestion_hint(suggestions: tuple[str, ...]) -> str | None:
    if not suggestions:
        return None
    if len(suggestions) == 1:
        return f"did you mean '{suggestions[0]}'?"
    return "did you mean one of: " + ", ".join(f"'{s}'" for s in suggestions) + "?"


def render(diagnostic: Diagnostic, filename: str, source: str | None) -> str:
    """Compiler-style text: `file:line:col: error[CODE]: message`, the line, a caret, the hint."""
    head = (
        f"{filename}:{diagnostic.line}:{diagnostic.column}: "
        if diagnostic.line
        else f"{filename}: "
    )
    out = [f"{head}{diagnostic.severity}[{diagnostic.code}]: {diagnostic.message}"]
    lines = source.splitlines() if source else []
    if 0 < diagnostic.line <= len(lines):
        text = lines[diagnostic.line - 1].replace("\t", " ")
        gutter = f"{diagnostic.line:>4} | "
        out.append(f"{gutter}{text}")
        width = 1
        if diagnostic.end_line == diagnostic.line and diagnostic.end_column > diagnostic.column:
            width = diagnostic.end_column - diagnostic.column
        width = max(1, min(width, len(text) - diagnostic.column + 2))
        out.append(" " * (len(gutter) - 2) + "| " + " " * (diagnostic.column - 1) + "^" * width)
    if diagnostic.hint:
        out.append(f"     = hint: {diagnostic.hint}")
    return "\n".join(out)
