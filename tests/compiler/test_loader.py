"""The strict loader: positions, refusals and hostile inputs."""

from __future__ import annotations

from compiler.loader import MAX_BYTES, Mapping, Scalar, Sequence, find, load


def test_every_node_knows_its_line_column_and_pointer() -> None:
    doc, diagnostics = load("a:\n  - x: 1\n    y: [two, 3]\n")
    assert diagnostics == []
    assert doc is not None
    y = find(doc, "/a/0/y/0")
    assert isinstance(y, Scalar)
    assert (y.value, y.line, y.column, y.path) == ("two", 3, 9, "/a/0/y/0")
    assert isinstance(find(doc, "/a"), Sequence)
    assert isinstance(find(doc, "/a/0"), Mapping)


def test_pointer_escapes_slash_and_tilde() -> None:
    doc, _ = load("'a/b': {'c~d': 1}\n")
    assert doc is not None
    node = find(doc, "/a~1b/c~0d")
    assert isinstance(node, Scalar) and node.path == "/a~1b/c~0d" and node.value == 1


def test_position_inside_a_literal_block_scalar() -> None:
    text = "q: |\n  SELECT a,\n         b\n  FROM t\n"
    doc, _ = load(text)
    assert doc is not None
    q = doc["q"]
    assert isinstance(q, Scalar)
    assert q.position_of(q.text.index("b")) == (3, 10)
    assert q.position_of(q.text.index("FROM")) == (4, 3)


def test_position_inside_a_folded_and_a_quoted_scalar() -> None:
    doc, _ = load('f: >\n  one\n  two\nd: "x ${y}"\n')
    assert doc is not None
    folded, quoted = doc["f"], doc["d"]
    assert isinstance(folded, Scalar) and isinstance(quoted, Scalar)
    assert folded.position_of(folded.text.index("two")) == (3, 3)
    assert quoted.position_of(2) == (4, 7)


def test_yaml_11_values_keep_their_type_and_quoted_ones_stay_strings() -> None:
    doc, _ = load("a: no\nb: 0123\nc: '0123'\nd: 1.5\ne: null\nf: 2024-01-01\n")
    assert doc is not None
    kinds = {k: (v.kind, v.value) for k, v in doc.items() if isinstance(v, Scalar)}
    assert kinds == {
        "a": ("bool", False),
        "b": ("int", 83),
        "c": ("str", "0123"),
        "d": ("float", 1.5),
        "e": ("null", None),
        "f": ("timestamp", "2024-01-01"),
    }


def test_duplicate_keys_are_reported_at_the_second_key() -> None:
    _, diagnostics = load("a: 1\nb: 2\na: 3\n")
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("OML005", 3, 1)]


def test_alias_tag_and_merge_are_refused() -> None:
    assert load("a: &x 1\n")[1][0].code == "OML007"
    assert load("a: 1\nb: *a\n")[1][0].code in ("OML001", "OML007")
    assert load("a: !custom 1\n")[1][0].code == "OML006"
    assert load("a: {<<: {b: 1}}\n")[1][0].code == "OML008"


def test_not_utf8_is_a_diagnostic_with_position() -> None:
    doc, diagnostics = load(b"name: caf\xe9\n")
    assert doc is None
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("OML003", 1, 10)]


def test_a_byte_order_mark_is_accepted() -> None:
    doc, diagnostics = load("\ufeffa: 1\n".encode())
    assert diagnostics == [] and doc is not None and "a" in doc


def test_huge_input_is_refused_before_parsing() -> None:
    doc, diagnostics = load(b"a: " + b"x" * MAX_BYTES)
    assert doc is None and diagnostics[0].code == "OML004"


def test_empty_and_comment_only_files() -> None:
    assert load("")[1][0].code == "OML002"
    assert load("# only a comment\n\n")[1][0].code == "OML002"


def test_non_mapping_documents() -> None:
    assert load("- a\n")[1][0].code == "OML100"
    assert load("42\n")[1][0].code == "OML100"


def test_complex_keys_are_refused() -> None:
    doc, diagnostics = load("? [a, b]\n: 1\n")
    assert doc is None and diagnostics[0].code == "OML104"


def test_a_lone_surrogate_in_text_is_a_diagnostic_not_a_crash() -> None:
    # JSON clients can send "\ud800"; it is not encodable text
    doc, diagnostics = load("name: a\ud800b\n")
    assert doc is None
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("OML003", 1, 8)]
