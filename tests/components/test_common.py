"""components/common: the one strict YAML loader, the one atomic writer, the one quoting."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.common import strict_yaml
from components.common.atomic import TargetExists, write_atomic
from components.common.quoting import quote_identifier, quote_literal


def test_a_duplicate_key_is_refused_with_its_line_at_any_depth() -> None:
    with pytest.raises(strict_yaml.YamlError) as raised:
        strict_yaml.load("a:\n  - {x: 1}\n  - {x: 1, y: 2, x: 3}\n")
    assert (str(raised.value), raised.value.line, raised.value.duplicate_key) == (
        "duplicate key 'x'",
        3,
        "x",
    )


def test_keys_are_compared_as_values() -> None:
    with pytest.raises(strict_yaml.YamlError):
        strict_yaml.load("1: a\n01: b\n")
    assert strict_yaml.load("1: a\n'1': b\n") == {1: "a", "1": "b"}


def test_only_safe_types_are_built() -> None:
    with pytest.raises(strict_yaml.YamlError) as raised:
        strict_yaml.load("x: !!python/object/apply:os.system [echo hi]\n")
    assert raised.value.line == 1
    assert isinstance(raised.value, ValueError)


def test_nested_aliases_are_checked_once() -> None:
    """A billion-laughs document: the duplicate check looks at each node once."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    node = strict_yaml.compose("\n".join(lines) + "\n")
    assert node is not None


def test_a_syntax_error_names_line_and_column_but_never_quotes_the_source() -> None:
    with pytest.raises(strict_yaml.YamlError) as raised:
        strict_yaml.load("a: [hunter2-secret\n")
    assert raised.value.line is not None and "hunter2" not in str(raised.value)


def test_compose_keeps_positions() -> None:
    node = strict_yaml.compose("a:\n  b: 1\n")
    assert isinstance(node, strict_yaml.MappingNode)
    key, value = node.value[0]
    assert (key.value, key.start_mark.line, value.value[0][0].start_mark.column) == ("a", 0, 2)


def test_an_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.json"
    write_atomic(target, b"1")
    write_atomic(target, b"2", mode=0o644)
    assert target.read_bytes() == b"2" and target.stat().st_mode & 0o777 == 0o644
    with pytest.raises(TargetExists):
        write_atomic(target, b"3", exclusive=True)
    assert target.read_bytes() == b"2"
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


@pytest.mark.parametrize(
    ("name", "dialect", "quoted"),
    [('a"b', "duckdb", '"a""b"'), ('a"b', "postgres", '"a""b"'), ("a`b", "mysql", "`a``b`")],
)
def test_identifiers_are_quoted_per_dialect(name: str, dialect: str, quoted: str) -> None:
    assert quote_identifier(name, dialect) == quoted  # type: ignore[arg-type]


def test_literals_double_their_quotes() -> None:
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("a\\'b", "mysql") == "'a\\\\''b'"
