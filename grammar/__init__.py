"""The OML expression language: parse ``${...}`` templates, ``when:`` conditions and
``@family.alias`` connection references into typed, positioned nodes.

The language itself is ``oml.lark`` beside this file; this module builds the nodes and
turns every Lark error into one ``ExpressionError`` whose offsets point into the text.

>>> template = parse_template("SELECT * FROM orders WHERE day >= '${params.since}'")
>>> template.parts
("SELECT * FROM orders WHERE day >= '", ParamRef(name='since', span=Span(start=35, end=50)), "'")
>>> template.render(lambda ref: "2024-01-01")
"SELECT * FROM orders WHERE day >= '2024-01-01'"
>>> parse_template("price in $${currency}").parts
('price in ${currency}',)
>>> parse_condition("${steps.extract.rows_read} > 0").evaluate(lambda ref: 12)
True
>>> parse_template("${extract.dfx}")
Traceback (most recent call last):
...
grammar.ExpressionError: unexpected 'dfx' after 'extract.': expected 'df' or 'output'
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeAlias

from lark import Lark, Token, UnexpectedInput, UnexpectedToken
from lark import __version__ as lark_version

__all__ = [
    "GRAMMAR_PATH",
    "And",
    "Compare",
    "Condition",
    "ConditionNode",
    "ConnectionRef",
    "EvaluationError",
    "ExpressionError",
    "Literal",
    "Not",
    "Or",
    "ParamRef",
    "RefOperand",
    "Reference",
    "ResultRef",
    "Span",
    "StepRef",
    "Template",
    "has_expression",
    "parse_condition",
    "parse_connection",
    "parse_template",
]

GRAMMAR_PATH = Path(__file__).with_name("oml.lark")

#: Deeper conditions are refused, so that evaluating one can never exhaust the stack.
MAX_DEPTH = 100


# ---- nodes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """Character offsets into the parsed text; ``end`` is exclusive."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParamRef:
    """``${params.NAME}``"""

    name: str
    span: Span

    def __str__(self) -> str:
        return f"${{params.{self.name}}}"


@dataclass(frozen=True, slots=True)
class StepRef:
    """``${STEP.df}``, or ``${STEP.output.df}`` when ``via_output``: an upstream table."""

    step: str
    via_output: bool
    span: Span

    def __str__(self) -> str:
        return f"${{{self.step}.output.df}}" if self.via_output else f"${{{self.step}.df}}"


@dataclass(frozen=True, slots=True)
class ResultRef:
    """``${steps.STEP.RESULT}``: a step's run-time result, such as ``rows_read``."""

    step: str
    result: str
    span: Span

    def __str__(self) -> str:
        return f"${{steps.{self.step}.{self.result}}}"


@dataclass(frozen=True, slots=True)
class ConnectionRef:
    """``@family.alias``, or ``@family`` (alias ``None``) for the family's default."""

    family: str
    alias: str | None
    span: Span

    def __str__(self) -> str:
        return f"@{self.family}.{self.alias}" if self.alias else f"@{self.family}"


Reference: TypeAlias = ParamRef | StepRef | ResultRef


@dataclass(frozen=True, slots=True)
class Template:
    """A string as literal text and references, in order; escapes already applied."""

    parts: tuple[str | Reference, ...]

    @property
    def references(self) -> tuple[Reference, ...]:
        return tuple(part for part in self.parts if not isinstance(part, str))

    @property
    def is_single_reference(self) -> bool:
        """The whole string is one reference: no text around it, not even a space."""
        return len(self.parts) == 1 and not isinstance(self.parts[0], str)

    def render(self, resolve: Callable[[Reference], str]) -> str:
        return "".join(part if isinstance(part, str) else resolve(part) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Literal:
    value: str | int | float | bool | None
    span: Span


@dataclass(frozen=True, slots=True)
class RefOperand:
    ref: Reference
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: ConditionNode
    right: ConditionNode
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    left: ConditionNode
    right: ConditionNode
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    left: ConditionNode
    right: ConditionNode
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: ConditionNode
    span: Span


ConditionNode: TypeAlias = Literal | RefOperand | Compare | And | Or | Not


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed ``when:`` condition; ``root`` spans index into ``source``."""

    source: str
    root: ConditionNode

    @property
    def references(self) -> tuple[Reference, ...]:
        """Every reference, in source order."""
        found: list[Reference] = []
        stack: list[ConditionNode] = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, RefOperand):
                found.append(node.ref)
            elif isinstance(node, Not):
                stack.append(node.operand)
            elif not isinstance(node, Literal):
                stack += (node.right, node.left)
        return tuple(found)

    def evaluate(self, resolve: Callable[[Reference], object]) -> bool:
        """True or False; raises ``EvaluationError`` when an ordering compares unlike values."""
        return _truth(_Evaluation(self.source, resolve).value(self.root))

    def describe(self, resolve: Callable[[Reference], object]) -> dict[str, object]:
        """The value of each reference that evaluation read, keyed by its ``${...}`` text.

        ``and``/``or`` short-circuit, so a reference that did not decide the result is left
        out. When evaluation fails, the values read up to the failure are returned.
        """
        evaluation = _Evaluation(self.source, resolve)
        with contextlib.suppress(EvaluationError):
            evaluation.value(self.root)
        return evaluation.used


# ---- errors --------------------------------------------------------------------------


class ExpressionError(ValueError):
    """A syntax error; ``offset``/``end_offset`` index into the text given to ``parse_*``.

    ``expected`` names what could have come next, as the message lists them.
    """

    def __init__(
        self,
        message: str,
        offset: int,
        end_offset: int | None = None,
        expected: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.end_offset = offset if end_offset is None else end_offset
        self.expected = expected

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.offset, self.end_offset, self.expected))


class EvaluationError(ValueError):
    """A condition that parsed but cannot be evaluated with these values."""

    def __init__(self, message: str, span: Span | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.span))


# ---- parsing -------------------------------------------------------------------------


def has_expression(text: str) -> bool:
    """Cheap pre-check: only a string containing ``${`` needs ``parse_template``."""
    return "${" in text


def parse_template(text: str) -> Template:
    result: Template = _parse(text, "template")
    return result


def parse_condition(text: str) -> Condition:
    root: ConditionNode = _parse(text, "condition")
    if len(text) > 2 * MAX_DEPTH:  # each level takes at least two characters
        _check_depth(root)
    return Condition(text, root)


def parse_connection(text: str) -> ConnectionRef:
    ref: ConnectionRef = _parse(text, "connection")
    # Whitespace is %ignored by the lexer, but a connection reference is the whole string.
    if ref.span.start > 0:
        raise ExpressionError(
            "unexpected whitespace before '@'", 0, ref.span.start, expected=("'@'",)
        )
    if ref.span.end < len(text):
        raise ExpressionError(
            f"unexpected whitespace after '{ref}'", ref.span.end, len(text), expected=()
        )
    return ref


@functools.cache
def _parser() -> Lark:
    # Built on first use, once per process: importing the package stays cheap. Building
    # the LALR tables costs ~15 ms, a third of a cold `osiris validate`; Lark keeps them
    # in a cache file it re-checks against the grammar's hash, in a private directory.
    options: dict[str, Any] = {
        "parser": "lalr",
        "lexer": "contextual",
        "start": ["template", "condition", "connection"],
        "transformer": _Builder(),  # nodes are built during the parse: no intermediate tree
        "maybe_placeholders": False,
    }
    text = GRAMMAR_PATH.read_text(encoding="utf-8")
    cache = _cache_file()
    if cache is not None:
        try:
            return Lark(text, cache=str(cache), **options)
        except Exception:  # an unreadable or stale cache: build from the grammar
            cache.unlink(missing_ok=True)
    return Lark(text, **options)


def _cache_file() -> Path | None:
    """`$XDG_CACHE_HOME/osiris/` (or ~/.cache/osiris/), created private; None if unusable."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(root) / "osiris"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_uid != os.getuid() or not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    digest = hashlib.sha256(GRAMMAR_PATH.read_bytes()).hexdigest()[:16]
    return folder / f"oml-grammar-{digest}-lark{lark_version}.cache"


# The nodes are immutable, so a string seen before (a pipeline validated again after an
# edit) costs a dictionary look-up. Errors are not cached; they are rare.
@functools.lru_cache(maxsize=4096)
def _parse(text: str, start: str) -> Any:
    try:
        return _parser().parse(text, start=start)
    except UnexpectedInput as err:
        raise _translate(err, text, start) from None


def _check_depth(root: ConditionNode) -> None:
    stack: list[tuple[ConditionNode, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(
                f"condition is nested too deeply (more than {MAX_DEPTH} levels)",
                node.span.start,
                node.span.end,
            )
        if isinstance(node, Not):
            stack.append((node.operand, depth + 1))
        elif isinstance(node, Compare | And | Or):
            stack += ((node.left, depth + 1), (node.right, depth + 1))


def _span(first: Any, last: Any) -> Span:
    return Span(first.start_pos, last.end_pos)


def _adjacent(tokens: list[Any], what: str, written: str) -> None:
    """Refuse whitespace between the tokens of a reference (the lexer ignored it)."""
    for before, after in itertools.pairwise(tokens):
        if before.end_pos != after.start_pos:
            raise ExpressionError(
                f"unexpected whitespace inside {what} (write '{written}')",
                before.end_pos,
                after.start_pos,
            )


def _reference_tokens(tokens: list[Any]) -> None:
    _adjacent(tokens, "a reference", "${" + "".join(tokens) + "}")


_ESCAPED = re.compile(r"\\([\\'\"])")


class _Builder:
    """Lark callbacks, one per rule or alias in oml.lark; each gets the rule's children."""

    def template(self, children: list[Any]) -> Template:
        parts: list[str | Reference] = []
        text: list[str] = []
        for child in children:
            if isinstance(child, Token):
                text.append("${" if child.type == "ESCAPE" else str(child))
                continue
            if text:
                parts.append("".join(text))
                text.clear()
            parts.append(child)
        if text:
            parts.append("".join(text))
        return Template(tuple(parts))

    # A reference rule returns a maker; the enclosing ${ } supplies the span.
    def param_ref(self, children: list[Any]) -> Callable[[Span], Reference]:
        _reference_tokens(children)
        return functools.partial(ParamRef, str(children[2]))

    def step_ref(self, children: list[Any]) -> Callable[[Span], Reference]:
        _reference_tokens(children)
        return functools.partial(StepRef, str(children[0]), len(children) == 5)

    def result_ref(self, children: list[Any]) -> Callable[[Span], Reference]:
        _reference_tokens(children)
        return functools.partial(ResultRef, str(children[2]), str(children[4]))

    def template_ref(self, children: list[Any]) -> Reference:
        opening, make, closing = children
        reference: Reference = make(_span(opening, closing))
        return reference

    condition_ref = template_ref

    def connection(self, children: list[Any]) -> ConnectionRef:
        _adjacent(children, "a connection reference", "".join(children))
        alias = str(children[3]) if len(children) == 4 else None
        return ConnectionRef(str(children[1]), alias, _span(children[0], children[-1]))

    def condition(self, children: list[Any]) -> ConditionNode:
        root: ConditionNode = children[0]
        return root

    def or_test(self, children: list[Any]) -> Or:
        left, _, right = children
        return Or(left, right, Span(left.span.start, right.span.end))

    def and_test(self, children: list[Any]) -> And:
        left, _, right = children
        return And(left, right, Span(left.span.start, right.span.end))

    def comparison(self, children: list[Any]) -> Compare:
        left, op, right = children
        return Compare(str(op), left, right, Span(left.span.start, right.span.end))

    def not_test(self, children: list[Any]) -> Not:
        keyword, operand = children
        return Not(operand, Span(keyword.start_pos, operand.span.end))

    def group(self, children: list[Any]) -> ConditionNode:
        # No node of its own: the parentheses widen the span of what they hold.
        opening, inner, closing = children
        node: ConditionNode = replace(inner, span=_span(opening, closing))
        return node

    def ref_operand(self, children: list[Any]) -> RefOperand:
        return RefOperand(children[0], children[0].span)

    def string(self, children: list[Any]) -> Literal:
        token = children[0]
        return Literal(_ESCAPED.sub(r"\1", token[1:-1]), _span(token, token))

    def integer(self, children: list[Any]) -> Literal:
        return Literal(int(children[0]), _span(children[0], children[0]))

    def decimal(self, children: list[Any]) -> Literal:
        return Literal(float(children[0]), _span(children[0], children[0]))

    def true(self, children: list[Any]) -> Literal:
        return Literal(True, _span(children[0], children[0]))

    def false(self, children: list[Any]) -> Literal:
        return Literal(False, _span(children[0], children[0]))

    def null(self, children: list[Any]) -> Literal:
        return Literal(None, _span(children[0], children[0]))


# ---- error messages: every Lark error is translated here, and only here ---------------

# Terminal -> how a message names it; the order is the order messages list them in.
_NAMES = {
    "PARAMS": "'params'",
    "STEPS": "'steps'",
    "NAME": "a name",
    "DOT": "'.'",
    "DF": "'df'",
    "OUTPUT": "'output'",
    "CLOSE": "'}'",
    "AT": "'@'",
    "TEXT": "text",
    "ESCAPE": "'$${'",
    "OPEN": "'${'",
    "COMP_OP": "a comparison operator",
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "STRING": "a string",
    "INT": "a number",
    "DECIMAL": "a number",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NULL": "'null'",
    "LPAR": "'('",
    "RPAR": "')'",
}
_VALUE_START = frozenset({"STRING", "INT", "DECIMAL", "TRUE", "FALSE", "NULL", "OPEN", "LPAR"})
_REFERENCE_START = frozenset({"PARAMS", "STEPS", "NAME"})
_KEYWORDS = frozenset({"and", "or", "not", "true", "false", "null"})
_END = {
    "template": "end of text",
    "condition": "end of condition",
    "connection": "end of connection",
}

# What a message quotes as "unexpected ...": one word, number, string or operator.
_LEXEME = re.compile(
    r"""[A-Za-z_][A-Za-z0-9_-]*|-?[0-9]+(?:\.[0-9]*)?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
    r"""|[=!<>]=|\$\$?\{|.""",
    re.DOTALL,
)
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)+")


def _expected(terminals: set[str], start: str) -> tuple[str, ...]:
    names: list[str] = []
    if terminals >= _VALUE_START:  # `not` may also start a value where it is allowed
        terminals = terminals - _VALUE_START - {"NOT"}
        names.append("a value")
    if terminals >= _REFERENCE_START:
        terminals = terminals - _REFERENCE_START
        names += ["'params'", "'steps'", "a step id"]
    for terminal, name in _NAMES.items():
        if terminal in terminals and name not in names:
            names.append(name)
    if "$END" in terminals:
        names.append(_END[start])
    return tuple(names)


def _listing(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _translate(err: UnexpectedInput, text: str, start: str) -> ExpressionError:
    at_end = isinstance(err, UnexpectedToken) and err.token.type == "$END"
    offset = len(text) if at_end else min(err.pos_in_stream or 0, len(text))
    parser = _parser_before(text, offset, start) or getattr(err, "interactive_parser", None)
    if parser is not None:
        terminals = set(parser.accepts())
    else:
        terminals = set(getattr(err, "expected", None) or getattr(err, "allowed", None) or ())
    expected = _expected(terminals, start)
    listed = f": expected {_listing(expected)}" if expected else ""

    opener = _innermost_opener(parser.parser_state.value_stack if parser is not None else [])
    if at_end and opener is not None and (opener.type == "OPEN" or "RPAR" in terminals):
        if opener.type == "OPEN":
            what = f"unclosed '${{' (expected {_listing(expected)})"
        else:
            what = "unclosed '(' (expected ')')"
        return ExpressionError(what, opener.start_pos, len(text), expected)

    if opener is not None and opener.type == "OPEN":
        context = text[opener.end_pos : offset].strip()
    elif start == "connection":
        context = text[:offset].strip()
    else:
        context = ""
    after = f" after '{context}'" if context else ""

    if at_end:
        return ExpressionError(f"unexpected {_END[start]}{after}{listed}", offset, offset, expected)

    match = _LEXEME.match(text, offset)
    lexeme = match.group() if match else text[offset : offset + 1]
    end = offset + len(lexeme)
    shown = lexeme if len(lexeme) <= 40 else lexeme[:37] + "..."
    if lexeme in ("'", '"') and "STRING" in terminals:
        message = f"unclosed string (expected a closing {lexeme})"
        return ExpressionError(message, offset, len(text), expected)
    if lexeme in ("==", "!=", "<", "<=", ">", ">=") and "AND" in terminals:
        message = f"unexpected '{shown}': comparisons cannot be chained (join two with 'and')"
        return ExpressionError(message, offset, end, expected)
    message = f"unexpected {shown!r}{after}{listed}"
    if lexeme[0].isalpha() or lexeme[0] == "_":
        hint = _word_hint(text, offset, lexeme, value_expected="a value" in expected)
        message += f" ({hint})" if hint else ""
    return ExpressionError(message, offset, end, expected)


def _parser_before(text: str, offset: int, start: str) -> Any:
    """The parser just before the bad token. The one Lark hands over may already have
    reduced rules on that token's account, and so accept less than it would have."""
    try:
        parser = _parser().parse_interactive(text[:offset], start=start)
        parser.exhaust_lexer()
    except (UnexpectedInput, ExpressionError):
        return None
    return parser


def _innermost_opener(stack: list[Any]) -> Any:
    """The "${" or "(" still open: the parser stack holds the tokens of unfinished rules."""
    closed = 0
    for value in reversed(stack):
        if isinstance(value, Token):
            if value.type in ("CLOSE", "RPAR"):
                closed += 1
            elif value.type in ("OPEN", "LPAR"):
                if not closed:
                    return value
                closed -= 1
    return None


def _word_hint(text: str, offset: int, word: str, value_expected: bool) -> str | None:
    """Why a bare word is out of place, and what to write instead."""
    if word.lower() in _KEYWORDS and word not in _KEYWORDS:
        return f"keywords are lowercase: '{word.lower()}'"
    if not value_expected or word in _KEYWORDS:
        return None
    dotted = _DOTTED.match(text, offset)
    if dotted:
        return f"write a reference as '${{{dotted.group()}}}'"
    if text[offset + len(word) :].lstrip().startswith("("):
        return "a condition cannot call functions"
    return f"quote text as a string: '{word}'"


# ---- evaluation ----------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _truth(value: object) -> bool:
    return bool(value)


def _equal(left: object, right: object) -> bool:
    # Equal means same kind and same value: 1 == 1.0, but "1" != 1 and true != 1.
    if _is_number(left) and _is_number(right):
        return left == right
    if isinstance(left, bool) or isinstance(right, bool) or _is_number(left) or _is_number(right):
        return type(left) is type(right) and left == right
    return left == right


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class _Evaluation:
    """One evaluation of a condition; ``used`` records each reference's value as read."""

    def __init__(self, source: str, resolve: Callable[[Reference], object]) -> None:
        self.source = source
        self.resolve = resolve
        self.used: dict[str, object] = {}

    def value(self, node: ConditionNode) -> object:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, RefOperand):
            value = self.resolve(node.ref)
            self.used[str(node.ref)] = value
            return value
        if isinstance(node, Not):
            return not _truth(self.value(node.operand))
        if isinstance(node, And):
            return _truth(self.value(node.left)) and _truth(self.value(node.right))
        if isinstance(node, Or):
            return _truth(self.value(node.left)) or _truth(self.value(node.right))
        return self.compare(node)

    def compare(self, node: Compare) -> bool:
        left, right = self.value(node.left), self.value(node.right)
        if node.op == "==":
            return _equal(left, right)
        if node.op == "!=":
            return not _equal(left, right)
        if (_is_number(left) and _is_number(right)) or (
            isinstance(left, str) and isinstance(right, str)
        ):
            return _ORDER[node.op](left, right)
        left_text = self.source[node.left.span.start : node.left.span.end]
        right_text = self.source[node.right.span.start : node.right.span.end]
        raise EvaluationError(
            f"cannot compare {left_text} ({_kind(left)}) {node.op} {right_text} "
            f"({_kind(right)}): '{node.op}' needs two numbers or two strings",
            node.span,
        )
