"""Strict YAML loader: a node tree where every value keeps its line, column and JSON pointer.

PyYAML's own loaders silently keep the last of two duplicate keys, expand aliases and
honour tags; OML wants none of that. We read PyYAML's event stream (the C parser when
available) and build the tree ourselves, refusing what OML does not allow.

>>> doc, diags = load("name: demo\\nsteps: []\\n")
>>> doc["name"].value, doc["name"].line, doc["name"].column
('demo', 1, 7)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from compiler.diagnostics import Diagnostic
from components.common import strict_yaml

MAX_BYTES = 5 * 1024 * 1024

_TAG_KIND = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "timestamp",
    "tag:yaml.org,2002:merge": "merge",
    "tag:yaml.org,2002:value": "str",
}


def pointer(parent: str, key: str | int) -> str:
    """Extend a JSON pointer (RFC 6901) by one key."""
    text = str(key).replace("~", "~0").replace("/", "~1")
    return f"{parent}/{text}"


@dataclass(slots=True, eq=False)
class Node:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to_python(self) -> Any:
        raise NotImplementedError


@dataclass(slots=True, eq=False)
class Scalar(Node):
    value: str | int | float | bool | None
    kind: str  # str | int | float | bool | null | timestamp
    style: str | None  # None (plain), "'", '"', "|", ">"
    text: str  # the scalar as YAML read it, before typing
    source_start: int  # offset of the scalar's first character in the file
    source_end: int
    source: str = field(repr=False)

    def to_python(self) -> Any:
        return self.value

    def position_of(self, offset: int) -> tuple[int, int]:
        """File (line, column) of the character at `offset` in this scalar's text.

        Works for every style, block scalars included: the scalar's non-blank characters
        appear in the file in the same order, so we walk both in step.
        """
        if self.style is None and "\n" not in self.text:
            return self.line, self.column + offset
        if 0 < offset < len(self.text) and self.text[offset].isspace():
            # a blank (SQL410 points at one) sits just after the last non-blank before it
            start = offset
            while start > 0 and self.text[start - 1].isspace() and self.text[start - 1] != "\n":
                start -= 1
            if start > 0 and not self.text[start - 1].isspace():
                line, column = self.position_of(start - 1)
                return line, column + offset - start + 1
        if (
            self.style in ("'", '"')
            and "\n" not in self.source[self.source_start : self.source_end]
        ):
            return self.line, self.column + 1 + offset
        target = sum(1 for ch in self.text[:offset] if not ch.isspace())
        index = self.source_start
        if self.style in ("|", ">"):
            newline = self.source.find("\n", index)
            index = self.source_end if newline < 0 else newline + 1
        elif self.style in ("'", '"'):
            index += 1
        seen = 0
        while index < self.source_end:
            ch = self.source[index]
            if not ch.isspace():
                if seen == target:
                    break
                seen += 1
            index += 1
        return _line_col(self.source, index)


@dataclass(slots=True, eq=False)
class Mapping(Node):
    entries: dict[str, tuple[Scalar, Node]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Node:
        return self.entries[key][1]

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def get(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def key_node(self, key: str) -> Scalar:
        return self.entries[key][0]

    def items(self) -> Iterator[tuple[str, Node]]:
        for key, (_, value) in self.entries.items():
            yield key, value

    def to_python(self) -> dict[str, Any]:
        return {key: value.to_python() for key, (_, value) in self.entries.items()}


@dataclass(slots=True, eq=False)
class Sequence(Node):
    items: list[Node] = field(default_factory=list)

    def to_python(self) -> list[Any]:
        return [item.to_python() for item in self.items]


def _line_col(source: str, index: int) -> tuple[int, int]:
    line = source.count("\n", 0, index) + 1
    return line, index - (source.rfind("\n", 0, index) + 1) + 1


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic


def decode(data: bytes | str) -> tuple[str | None, Diagnostic | None]:
    """Check size and encoding; return the text or the diagnostic that stops us."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > MAX_BYTES:
        return None, Diagnostic(
            "OML004",
            f"file is {size:,} bytes; OML files are limited to {MAX_BYTES:,} bytes",
            line=1,
            column=1,
            hint="a pipeline file holds steps, not data: move large SQL or data to files",
        )
    if isinstance(data, str):
        surrogate = _LONE_SURROGATE.search(data)
        if surrogate is None:
            return data, None
        line, column = _line_col(data, surrogate.start())
        return None, Diagnostic(
            "OML003",
            f"character U+{ord(surrogate.group()):04X} at offset {surrogate.start()} is not valid "
            "Unicode text (a lone surrogate)",
            line=line,
            column=column,
            hint="remove the character; text must be valid UTF-8",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _line_col(data[: err.start].decode("utf-8", "replace"), err.start)
        return None, Diagnostic(
            "OML003",
            f"byte 0x{data[err.start]:02x} at offset {err.start} is not valid UTF-8",
            line=line,
            column=column,
            hint="save the file as UTF-8",
        )
    return text.removeprefix("\ufeff"), None


#: Deepest nesting of mappings and lists a pipeline may have (real ones use under ten).
MAX_DEPTH = 64


def load(data: bytes | str) -> tuple[Mapping | None, list[Diagnostic]]:
    """Parse OML text into a node tree, or explain why not.

    Returns the root mapping (None when the document cannot be used at all) and the
    diagnostics found while loading.
    """
    text, problem = decode(data)
    if text is None:
        assert problem is not None
        return None, [problem]
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        return None, [
            Diagnostic(
                "OML002",
                "the file is empty",
                line=1,
                column=1,
                hint='start with: oml_version: "0.1.0", name: ..., steps: [...]',
            )
        ]
    builder = _TreeBuilder(text)
    try:
        root = builder.build()
    except _Refused as refused:
        return None, [refused.diagnostic]
    except yaml.MarkedYAMLError as err:
        return None, [_syntax_diagnostic(err)]
    except yaml.YAMLError as err:  # a reader error without a mark
        return None, [Diagnostic("OML001", f"YAML error: {err}", line=1, column=1)]
    if root is None:
        return None, [Diagnostic("OML002", "the file holds no YAML document", line=1, column=1)]
    if not isinstance(root, Mapping):
        return None, [
            Diagnostic(
                "OML100",
                f"an OML file is a mapping of keys, but this document is a {_kind(root)}",
                path="",
                line=root.line,
                column=root.column,
                end_line=root.end_line,
                end_column=root.end_column,
                hint='start with: oml_version: "0.1.0"',
            )
        ]
    return root, builder.diagnostics


def _kind(node: Node) -> str:
    if isinstance(node, Mapping):
        return "mapping"
    if isinstance(node, Sequence):
        return "list"
    assert isinstance(node, Scalar)
    return {"str": "string", "null": "null"}.get(node.kind, node.kind)


_MARK_NOISE = re.compile(r"\s+")


def _syntax_diagnostic(err: yaml.MarkedYAMLError) -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = _MARK_NOISE.sub(" ", err.problem or "invalid YAML").strip()
    context = _MARK_NOISE.sub(" ", err.context).strip() if err.context else ""
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    hint = "check the indentation and quoting on this line and the one before it"
    if "\t" in problem or "tab" in problem:
        hint = "YAML indentation must use spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "a value containing ': ' must be quoted"
    return Diagnostic("OML001", message, line=line, column=column, hint=hint)


class _TreeBuilder:
    def __init__(self, text: str) -> None:
        self.text = text
        self.diagnostics: list[Diagnostic] = []
        self.events: Iterator[Any] = strict_yaml.events(text)

    def build(self) -> Node | None:
        event = next(self.events)  # StreamStart
        event = next(self.events)
        if isinstance(event, yaml.StreamEndEvent):
            return None
        root = self._node(self._after_document_start(event), "")
        next(self.events)  # DocumentEnd
        event = next(self.events)
        if not isinstance(event, yaml.StreamEndEvent):
            line, column = _position(event)
            raise _Refused(
                Diagnostic(
                    "OML009",
                    "the file holds more than one YAML document",
                    line=line,
                    column=column,
                    hint="an OML file is one document: remove the '---' separator",
                )
            )
        return root

    def _after_document_start(self, event: Any) -> Any:
        assert isinstance(event, yaml.DocumentStartEvent)
        return next(self.events)

    def _refuse_extras(self, event: Any, path: str) -> None:
        line, column = _position(event)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(
                Diagnostic(
                    "OML007",
                    f"YAML anchor '&{event.anchor}' is not allowed in OML",
                    path=path,
                    line=line,
                    column=column,
                    hint="write the value out in full; anchors and aliases hide what a step does",
                )
            )
        tag = getattr(event, "tag", None)
        if tag is not None and not (isinstance(event, yaml.ScalarEvent) and tag == "!"):
            raise _Refused(
                Diagnostic(
                    "OML006",
                    f"YAML tag '{_short_tag(tag)}' is not allowed in OML",
                    path=path,
                    line=line,
                    column=column,
                    hint="remove the tag; quote the value if it must stay a string",
                )
            )

    def _node(self, event: Any, path: str) -> Node:
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                Diagnostic(
                    "OML007",
                    f"YAML alias '*{event.anchor}' is not allowed in OML",
                    path=path,
                    line=_position(event)[0],
                    column=_position(event)[1],
                    hint="write the value out in full; anchors and aliases hide what a step does",
                )
            )
        self._refuse_extras(event, path)
        start = event.start_mark
        if isinstance(event, yaml.ScalarEvent):
            return self._scalar(event, path)
        if path.count("/") >= MAX_DEPTH:
            # every later stage walks the tree recursively: refuse here, with a position,
            # what would otherwise end in a RecursionError
            raise _Refused(
                Diagnostic(
                    "OML010",
                    f"the document is nested more than {MAX_DEPTH} levels deep",
                    path=path,
                    line=start.line + 1,
                    column=start.column + 1,
                    hint="an OML file is a few levels of steps and config: flatten this value",
                )
            )
        if isinstance(event, yaml.SequenceStartEvent):
            seq = Sequence(path, start.line + 1, start.column + 1, 0, 0)
            while not isinstance(event := next(self.events), yaml.SequenceEndEvent):
                seq.items.append(self._node(event, pointer(path, len(seq.items))))
            seq.end_line, seq.end_column = _end_position(event)
            return seq
        assert isinstance(event, yaml.MappingStartEvent)
        mapping = Mapping(path, start.line + 1, start.column + 1, 0, 0)
        while not isinstance(event := next(self.events), yaml.MappingEndEvent):
            key = self._node(event, path)
            refusal = _refused_key(key)
            if refusal is not None:
                code, message, hint = refusal
                raise _Refused(
                    Diagnostic(
                        code, message, path=path, line=key.line, column=key.column, hint=hint
                    )
                )
            assert isinstance(key, Scalar)
            name = key.text
            key.path = pointer(path, name)
            value = self._node(next(self.events), key.path)
            if name in mapping.entries:
                first = mapping.entries[name][0]
                self.diagnostics.append(
                    Diagnostic(
                        "OML005",
                        f"duplicate key '{name}' (first defined on line {first.line})",
                        path=key.path,
                        line=key.line,
                        column=key.column,
                        end_line=key.end_line,
                        end_column=key.end_column,
                        hint="YAML would silently keep only the last one: remove or rename one",
                    )
                )
                continue
            mapping.entries[name] = (key, value)
        mapping.end_line, mapping.end_column = _end_position(event)
        return mapping

    def _scalar(self, event: Any, path: str) -> Scalar:
        start, end = event.start_mark, event.end_mark
        text: str = event.value
        style = event.style
        plain = style is None or style == ""
        tag = strict_yaml.scalar_tag(text, plain)
        kind = _TAG_KIND.get(tag, "str")
        typed = kind in ("int", "float", "bool", "null")
        value: str | int | float | bool | None = strict_yaml.scalar(tag, text) if typed else text
        return Scalar(
            path,
            start.line + 1,
            start.column + 1,
            end.line + 1,
            end.column + 1,
            value=value,
            kind=kind,
            style=None if plain else style,
            text=text,
            source_start=start.index,
            source_end=end.index,
            source=self.text,
        )


def _position(event: Any) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _refused_key(key: Node) -> tuple[str, str, str] | None:
    """Why `key` cannot be a mapping key in OML (code, message, hint), or None."""
    if not isinstance(key, Scalar) or key.kind in ("null",):
        return ("OML104", "a key must be a plain name", "keys are words such as 'name' or 'steps'")
    if key.kind == "merge":
        return ("OML008", "YAML merge key '<<' is not allowed in OML", "write the keys out in full")
    return None


def _end_position(event: Any) -> tuple[int, int]:
    mark = event.end_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, depth first, keys excluded."""
    yield node
    if isinstance(node, Mapping):
        for _, child in node.items():
            yield from walk(child)
    elif isinstance(node, Sequence):
        for child in node.items:
            yield from walk(child)


def find(root: Node, path: str) -> Node | None:
    """The node at a JSON pointer, or None."""
    node: Node | None = root
    if not path:
        return node
    for raw in path.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, Sequence) and part.isdigit() and int(part) < len(node.items):
            node = node.items[int(part)]
        else:
            return None
    return node


def _short_tag(tag: str) -> str:
    return (
        "!!" + tag.removeprefix("tag:yaml.org,2002:")
        if tag.startswith("tag:yaml.org,2002:")
        else tag
    )
