"""The one strict YAML loader: safe types only, duplicate keys refused with their line.

PyYAML keeps the last of two equal keys silently; every file Osiris reads (OML, component
specs, connections files, manifests, osiris.yaml) is read here instead, where a duplicate
is an error that names its line. Only the safe types are built (no Python objects), the
C parser is used when PyYAML has it, and an alias is checked once however often it is
used, so a document of nested aliases cannot make the check explode.

`load` gives plain data; `compose` gives the node tree (every node keeps its line and
column) for a caller that reports positions; `events` and `scalar` serve a caller (the
OML loader) that builds its own positioned tree from the event stream.

>>> load("a: 1\\nb: [x, 2.5]\\n")
{'a': 1, 'b': ['x', 2.5]}
>>> try:
...     load("a: 1\\nb: 2\\na: 3\\n")
... except YamlError as err:
...     (str(err), err.line, err.column)
("duplicate key 'a'", 3, 1)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolver: Any = yaml.resolver.Resolver()
_scalars = yaml.constructor.SafeConstructor()
STR_TAG = "tag:yaml.org,2002:str"

Node = yaml.Node
MappingNode = yaml.MappingNode
ScalarNode = yaml.ScalarNode
SequenceNode = yaml.SequenceNode


class YamlError(yaml.YAMLError, ValueError):
    """A text that is not strict YAML. The message never quotes the source (a line may hold
    a secret): `problem` and `context` are the parser's words, `line`/`column` 1-based."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        problem: str | None = None,
        context: str | None = None,
        duplicate_key: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.problem = problem
        self.context = context
        self.duplicate_key = duplicate_key


def compose(text: str | bytes) -> yaml.Node | None:
    """The node tree of a one-document text (None when empty); duplicate keys refused."""
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err) from None
    except yaml.YAMLError as err:  # a reader error without a mark
        kind = type(err).__name__  # its text may quote the source: the kind only
        raise YamlError(f"not valid YAML: {kind}", problem=kind) from None
    finally:
        loader.dispose()
    if node is not None:
        refuse_duplicate_keys(node)
    return node


def construct(node: yaml.Node | None) -> Any:
    """Plain data (dict, list, str, int, float, bool, None, dates) from a composed tree."""
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.MarkedYAMLError as err:  # an unknown tag, a bad merge
        raise _syntax_error(err) from None


def load(text: str | bytes) -> Any:
    """Plain data from a one-document YAML text: the strict `yaml.safe_load`."""
    return construct(compose(text))


def refuse_duplicate_keys(root: yaml.Node) -> None:
    """Raise `YamlError` at the first mapping key that repeats an earlier one (compared as
    values: `1` and `01` are one key, `1` and `"1"` two). Each node is looked at once."""
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[Any] = set()
            for key_node, value_node in node.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.tag != "tag:yaml.org,2002:merge"
                ):
                    key = _key(key_node)
                    if key in keys:
                        mark = key_node.start_mark
                        raise YamlError(
                            f"duplicate key {key!r}",
                            line=mark.line + 1,
                            column=mark.column + 1,
                            duplicate_key=key,
                        )
                    keys.add(key)
                stack.append(value_node)
            stack.extend(reversed([k for k, _ in node.value]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def events(text: str) -> Iterator[Any]:
    """The parse events of `text` (C parser when available), each with its marks."""
    return iter(yaml.parse(text, Loader=_Loader))


def scalar_tag(text: str, plain: bool) -> str:
    """The tag YAML 1.1 resolves a scalar to: a quoted scalar is always a string."""
    return str(_resolver.resolve(yaml.ScalarNode, text, (True, False))) if plain else STR_TAG


def scalar(tag: str, text: str) -> Any:
    """The value of a scalar of a resolved `tag` (`int`, `float`, `bool`, `null`, ...)."""
    return _scalars.construct_object(yaml.ScalarNode(tag, text))


def _key(node: yaml.ScalarNode) -> Any:
    try:
        key = scalar(node.tag, node.value)
        hash(key)
    except (yaml.YAMLError, TypeError, ValueError):
        return node.value
    return key


def _syntax_error(err: yaml.MarkedYAMLError) -> YamlError:
    mark = err.problem_mark or err.context_mark
    problem = " ".join(str(err.problem).split()) if err.problem else None
    context = " ".join(str(err.context).split()) if err.context else None
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return YamlError(
        f"not valid YAML{at}: {problem or context}",
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        problem=problem,
        context=context,
    )
