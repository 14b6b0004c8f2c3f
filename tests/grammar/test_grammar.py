"""The OML expression language: one example per grammar rule, evaluation, and errors."""

from __future__ import annotations

import contextlib
import doctest
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import grammar
from grammar import (
    GRAMMAR_PATH,
    And,
    Compare,
    Condition,
    ConditionNode,
    ConnectionRef,
    EvaluationError,
    ExpressionError,
    Literal,
    Not,
    Or,
    ParamRef,
    Reference,
    RefOperand,
    ResultRef,
    Span,
    StepRef,
    Template,
    has_expression,
    parse_condition,
    parse_connection,
    parse_template,
)


def test_module_docstring_examples_run() -> None:
    assert doctest.testmod(grammar).failed == 0


def test_grammar_path_is_the_lark_file() -> None:
    assert GRAMMAR_PATH.name == "oml.lark"
    assert "template_ref: OPEN _reference CLOSE" in GRAMMAR_PATH.read_text()


# ---- templates -----------------------------------------------------------------------


def test_plain_text_is_one_literal_part() -> None:
    assert parse_template("SELECT 1 } { $ $5") == Template(("SELECT 1 } { $ $5",))


def test_empty_text_has_no_parts() -> None:
    assert parse_template("") == Template(())


def test_param_reference() -> None:
    assert parse_template("${params.since}") == Template((ParamRef("since", Span(0, 15)),))


def test_step_table_reference() -> None:
    assert parse_template("${extract.df}") == Template((StepRef("extract", False, Span(0, 13)),))


def test_step_output_table_reference() -> None:
    assert parse_template("${extract.output.df}") == Template(
        (StepRef("extract", True, Span(0, 20)),)
    )


def test_step_result_reference() -> None:
    assert parse_template("${steps.check.rows_read}") == Template(
        (ResultRef("check", "rows_read", Span(0, 24)),)
    )


def test_identifiers_may_contain_hyphens() -> None:
    assert parse_template("${extract-orders.df}").parts == (
        StepRef("extract-orders", False, Span(0, 20)),
    )
    assert parse_template("${params.start-date}").parts == (ParamRef("start-date", Span(0, 20)),)


def test_params_and_steps_are_special_only_as_the_whole_first_word() -> None:
    assert parse_template("${params-copy.df}").parts == (
        StepRef("params-copy", False, Span(0, 17)),
    )
    assert parse_template("${steps_1.df}").parts == (StepRef("steps_1", False, Span(0, 13)),)
    assert parse_template("${steps.params.df}").parts == (ResultRef("params", "df", Span(0, 18)),)


def test_text_and_references_alternate_with_spans_into_the_text() -> None:
    template = parse_template("FROM ${a.df} WHERE d >= '${params.since}'")
    assert template.parts == (
        "FROM ",
        StepRef("a", False, Span(5, 12)),
        " WHERE d >= '",
        ParamRef("since", Span(25, 40)),
        "'",
    )
    assert template.references == (
        StepRef("a", False, Span(5, 12)),
        ParamRef("since", Span(25, 40)),
    )


def test_text_may_span_lines() -> None:
    assert parse_template("SELECT *\nFROM t\nWHERE x = ${params.x}\n").parts == (
        "SELECT *\nFROM t\nWHERE x = ",
        ParamRef("x", Span(26, 37)),
        "\n",
    )


def test_escape_is_a_literal_dollar_brace() -> None:
    assert parse_template("$${params.x} costs $${").parts == ("${params.x} costs ${",)


def test_escape_is_read_left_to_right() -> None:
    # The first "$" is text; "$${" after it is the escape.
    assert parse_template("$$${params.x}").parts == ("$${params.x}",)


def test_whitespace_inside_the_braces() -> None:
    template = parse_template("${ params.x }")
    assert template.parts == (ParamRef("x", Span(0, 13)),)
    assert template.is_single_reference


def test_whitespace_around_a_reference_is_text() -> None:
    assert parse_template(" ${a.df} ").parts == (" ", StepRef("a", False, Span(1, 8)), " ")


def test_is_single_reference() -> None:
    assert parse_template("${a.df}").is_single_reference
    assert not parse_template(" ${a.df}").is_single_reference
    assert not parse_template("${a.df}${b.df}").is_single_reference
    assert not parse_template("a.df").is_single_reference
    assert not parse_template("").is_single_reference


def test_render_substitutes_every_reference() -> None:
    template = parse_template("${params.a}-${params.b} $${x}")
    assert template.render(lambda ref: ref.name.upper()) == "A-B ${x}"  # type: ignore[union-attr]


def test_references_print_in_canonical_form() -> None:
    refs = parse_template("${ params.x }${a.output.df}${b.df}${steps.c.rows_read}").references
    assert [str(ref) for ref in refs] == [
        "${params.x}",
        "${a.output.df}",
        "${b.df}",
        "${steps.c.rows_read}",
    ]


def test_has_expression() -> None:
    assert has_expression("x ${params.a}")
    assert not has_expression("plain $ text {}")


# ---- connections ---------------------------------------------------------------------


def test_connection_with_alias() -> None:
    assert parse_connection("@mysql.primary") == ConnectionRef("mysql", "primary", Span(0, 14))


def test_connection_family_default() -> None:
    assert parse_connection("@supabase") == ConnectionRef("supabase", None, Span(0, 9))


def test_connection_names_follow_the_identifier_rule() -> None:
    assert parse_connection("@my-sql.read_only_2") == ConnectionRef(
        "my-sql", "read_only_2", Span(0, 19)
    )
    assert parse_connection("@params.steps") == ConnectionRef("params", "steps", Span(0, 13))


def test_connection_prints_as_written() -> None:
    assert str(parse_connection("@mysql.primary")) == "@mysql.primary"
    assert str(parse_connection("@mysql")) == "@mysql"


# ---- conditions: one example per rule ------------------------------------------------

A = ResultRef("a", "rows_read", Span(0, 20))


def root(text: str) -> ConditionNode:
    return parse_condition(text).root


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparison_operators(op: str) -> None:
    text = f"${{steps.a.rows_read}} {op} 0"
    end = len(text)
    assert root(text) == Compare(
        op, RefOperand(A, Span(0, 20)), Literal(0, Span(end - 1, end)), Span(0, end)
    )


def test_and() -> None:
    assert root("true and false") == And(
        Literal(True, Span(0, 4)), Literal(False, Span(9, 14)), Span(0, 14)
    )


def test_or() -> None:
    assert root("true or false") == Or(
        Literal(True, Span(0, 4)), Literal(False, Span(8, 13)), Span(0, 13)
    )


def test_not() -> None:
    assert root("not true") == Not(Literal(True, Span(4, 8)), Span(0, 8))


def test_and_binds_tighter_than_or() -> None:
    assert root("1 or 2 and 3") == Or(
        Literal(1, Span(0, 1)),
        And(Literal(2, Span(5, 6)), Literal(3, Span(11, 12)), Span(5, 12)),
        Span(0, 12),
    )


def test_comparison_binds_tighter_than_and() -> None:
    assert root("1 == 2 and 3") == And(
        Compare("==", Literal(1, Span(0, 1)), Literal(2, Span(5, 6)), Span(0, 6)),
        Literal(3, Span(11, 12)),
        Span(0, 12),
    )


def test_not_binds_looser_than_comparison_as_in_python() -> None:
    assert root("not 1 == 2") == Not(
        Compare("==", Literal(1, Span(4, 5)), Literal(2, Span(9, 10)), Span(4, 10)), Span(0, 10)
    )


def test_and_or_group_to_the_left() -> None:
    assert root("1 and 2 and 3") == And(
        And(Literal(1, Span(0, 1)), Literal(2, Span(6, 7)), Span(0, 7)),
        Literal(3, Span(12, 13)),
        Span(0, 13),
    )


def test_parentheses_group_and_widen_the_span() -> None:
    assert root("(1 or 2) and 3") == And(
        Or(Literal(1, Span(1, 2)), Literal(2, Span(6, 7)), Span(0, 8)),
        Literal(3, Span(13, 14)),
        Span(0, 14),
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'prod'", "prod"),
        ('"prod"', "prod"),
        ("''", ""),
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'C:\\'", "C:\\"),
        (r"'a\nb'", r"a\nb"),  # only quotes and backslashes are escaped
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literals(text: str, value: object) -> None:
    node = root(text)
    assert node == Literal(value, Span(0, len(text)))  # type: ignore[arg-type]
    assert isinstance(node, Literal)
    assert type(node.value) is type(value)


def test_a_bare_reference_is_a_condition() -> None:
    assert root("${params.enabled}") == RefOperand(ParamRef("enabled", Span(0, 17)), Span(0, 17))


def test_a_bare_literal_is_a_condition() -> None:
    assert root("false") == Literal(False, Span(0, 5))


def test_whitespace_is_free_between_tokens() -> None:
    assert root("\n  ( 1 )==\t1  ") == Compare(
        "==", Literal(1, Span(3, 8)), Literal(1, Span(11, 12)), Span(3, 12)
    )


def test_a_reference_followed_by_an_operator_is_not_template_text() -> None:
    # The lexer must not read " == 1" as template text after the "}".
    assert root("${a.df}== 1") == Compare(
        "==",
        RefOperand(StepRef("a", False, Span(0, 7)), Span(0, 7)),
        Literal(1, Span(10, 11)),
        Span(0, 11),
    )


def test_condition_references_in_source_order() -> None:
    condition = parse_condition("${steps.a.rows_read} > 0 and (${params.x} or not ${b.df})")
    assert condition.references == (
        A,
        ParamRef("x", Span(30, 41)),
        StepRef("b", False, Span(49, 56)),
    )
    assert condition.source == "${steps.a.rows_read} > 0 and (${params.x} or not ${b.df})"


# ---- evaluation ----------------------------------------------------------------------


def values(**by_text: object) -> dict[str, object]:
    return by_text


def evaluate(text: str, **params: object) -> bool:
    return parse_condition(text).evaluate(lambda ref: params[ref.name])  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 == 1.0", True),
        ("'1' == 1", False),
        ("true == 1", False),
        ("false == 0", False),
        ("null == null", True),
        ("null == false", False),
        ("'a' == 'a'", True),
        ("'a' != 'b'", True),
        ("1 != 1.0", False),
        ("2 > 1.5", True),
        ("2 >= 2", True),
        ("-1 < 0", True),
        ("1 <= 0", False),
        ("'apple' < 'banana'", True),
        ("'2024-01-02' > '2024-01-01'", True),
    ],
)
def test_comparison_semantics(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, False), (0.0, False), ("", False), (None, False), (False, False), ("0", True), (3, True)],
)
def test_truthiness_of_a_bare_reference(value: object, expected: bool) -> None:
    assert evaluate("${params.x}", x=value) is expected
    assert evaluate("not ${params.x}", x=value) is not expected


def test_and_or_return_booleans() -> None:
    assert evaluate("${params.x} or ${params.y}", x="", y="yes") is True
    assert evaluate("${params.x} and ${params.y}", x=1, y=2) is True
    assert evaluate("(1 and 2) == true") is True


def test_and_or_short_circuit() -> None:
    read: list[str] = []

    def resolve(ref: Reference) -> object:
        read.append(str(ref))
        return ref.name == "yes"  # type: ignore[union-attr]

    assert parse_condition("${params.no} and ${params.boom}").evaluate(resolve) is False
    assert parse_condition("${params.yes} or ${params.boom}").evaluate(resolve) is True
    assert read == ["${params.no}", "${params.yes}"]


def test_values_from_the_resolver_compare_like_literals() -> None:
    assert evaluate("${params.rows} > 0 and ${params.env} == 'prod'", rows=12, env="prod")
    assert not evaluate("${params.rows} > 0 and ${params.env} == 'prod'", rows=0, env="prod")


@pytest.mark.parametrize(
    ("text", "params", "message"),
    [
        (
            "${params.env} < 3",
            {"env": "prod"},
            "cannot compare ${params.env} (a string) < 3 (a number): "
            "'<' needs two numbers or two strings",
        ),
        (
            "${params.rows} >= 0",
            {"rows": None},
            "cannot compare ${params.rows} (null) >= 0 (a number): "
            "'>=' needs two numbers or two strings",
        ),
        (
            "true > false",
            {},
            "cannot compare true (a boolean) > false (a boolean): "
            "'>' needs two numbers or two strings",
        ),
        (
            "(not 1) <= 1",
            {},
            "cannot compare (not 1) (a boolean) <= 1 (a number): "
            "'<=' needs two numbers or two strings",
        ),
    ],
)
def test_ordering_unlike_values_is_an_evaluation_error(
    text: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate(text, **params)
    assert caught.value.message == message
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_evaluation_error_carries_the_comparison_span() -> None:
    with pytest.raises(EvaluationError) as caught:
        evaluate("true and ${params.env} < 3", env="prod")
    assert caught.value.span == Span(9, 26)


def test_describe_lists_the_values_read() -> None:
    condition = parse_condition("${steps.a.rows_read} > 0 and ${ params.env } == 'prod'")
    resolved = {"${steps.a.rows_read}": 12, "${params.env}": "dev"}
    assert condition.describe(lambda ref: resolved[str(ref)]) == {
        "${steps.a.rows_read}": 12,
        "${params.env}": "dev",
    }


def test_describe_leaves_out_what_short_circuit_skipped() -> None:
    condition = parse_condition("${steps.a.rows_read} > 0 and ${params.env} == 'prod'")
    assert condition.describe(lambda ref: 0) == {"${steps.a.rows_read}": 0}


def test_describe_after_an_evaluation_error_keeps_the_values_read() -> None:
    condition = parse_condition("${steps.a.rows_read} > 0")
    assert condition.describe(lambda ref: None) == {"${steps.a.rows_read}": None}


# ---- syntax errors: the message, and the offsets of the bad text ---------------------


@pytest.mark.parametrize(
    ("parse", "text", "offset", "end_offset", "message"),
    [
        (parse_template, "${params.}", 9, 10, "unexpected '}' after 'params.': expected a name"),
        (
            parse_template,
            "${a.b}",
            4,
            5,
            "unexpected 'b' after 'a.': expected 'df' or 'output'",
        ),
        (
            parse_template,
            "x ${a.dfx}",
            6,
            9,
            "unexpected 'dfx' after 'a.': expected 'df' or 'output'",
        ),
        (
            parse_template,
            "${",
            0,
            2,
            "unclosed '${' (expected 'params', 'steps' or a step id)",
        ),
        (parse_template, "a ${params.x", 2, 12, "unclosed '${' (expected '}')"),
        (
            parse_template,
            "${}",
            2,
            3,
            "unexpected '}': expected 'params', 'steps' or a step id",
        ),
        (parse_template, "${steps.x}", 9, 10, "unexpected '}' after 'steps.x': expected '.'"),
        (
            parse_template,
            "${ params. x }",
            10,
            11,
            "unexpected whitespace inside a reference (write '${params.x}')",
        ),
        (
            parse_condition,
            "x == ",
            0,
            1,
            "unexpected 'x': expected a value (quote text as a string: 'x')",
        ),
        (
            parse_condition,
            "${a.df} == ",
            11,
            11,
            "unexpected end of condition: expected a value",
        ),
        (
            parse_condition,
            "(a == 1",
            1,
            2,
            "unexpected 'a': expected a value (quote text as a string: 'a')",
        ),
        (parse_condition, "(${a.df} == 1", 0, 13, "unclosed '(' (expected ')')"),
        (
            parse_condition,
            "1 < 2 < 3",
            6,
            7,
            "unexpected '<': comparisons cannot be chained (join two with 'and')",
        ),
        (
            parse_condition,
            "foo()",
            0,
            3,
            "unexpected 'foo': expected a value (a condition cannot call functions)",
        ),
        (
            parse_condition,
            "params.env == 'prod'",
            0,
            6,
            "unexpected 'params': expected a value (write a reference as '${params.env}')",
        ),
        (
            parse_condition,
            "1 == 1 AND 2",
            7,
            10,
            "unexpected 'AND': expected 'and', 'or' or end of condition "
            "(keywords are lowercase: 'and')",
        ),
        (parse_condition, "'prod", 0, 5, "unclosed string (expected a closing ')"),
        (
            parse_condition,
            "1 + 2",
            2,
            3,
            "unexpected '+': expected a comparison operator, 'and', 'or' or end of condition",
        ),
        (parse_condition, "", 0, 0, "unexpected end of condition: expected a value"),
        (parse_connection, "@", 1, 1, "unexpected end of connection after '@': expected a name"),
        (
            parse_connection,
            "@mysql.",
            7,
            7,
            "unexpected end of connection after '@mysql.': expected a name",
        ),
        (parse_connection, "mysql", 0, 5, "unexpected 'mysql': expected '@'"),
        (
            parse_connection,
            "@mysql.a.b",
            8,
            9,
            "unexpected '.' after '@mysql.a': expected end of connection",
        ),
        (
            parse_connection,
            "@mysql. primary",
            7,
            8,
            "unexpected whitespace inside a connection reference (write '@mysql.primary')",
        ),
        (parse_connection, " @mysql", 0, 1, "unexpected whitespace before '@'"),
        (parse_connection, "@mysql ", 6, 7, "unexpected whitespace after '@mysql'"),
    ],
)
def test_syntax_errors(
    parse: object, text: str, offset: int, end_offset: int, message: str
) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(text)  # type: ignore[operator]
    assert (caught.value.offset, caught.value.end_offset, caught.value.message) == (
        offset,
        end_offset,
        message,
    )
    assert str(caught.value) == message


def test_expected_lists_what_could_come_next() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_template("${a.b}")
    assert caught.value.expected == ("'df'", "'output'")


def test_expression_error_is_a_value_error_and_pickles() -> None:
    with pytest.raises(ValueError) as caught:
        parse_condition("1 <")
    error = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(error, ExpressionError)
    assert (error.message, error.offset, error.end_offset, error.expected) == (
        "unexpected end of condition: expected a value",
        3,
        3,
        ("a value",),
    )


def test_too_deep_a_condition_is_refused() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_condition("not " * 150 + "true")
    assert caught.value.message == "condition is nested too deeply (more than 100 levels)"
    assert caught.value.offset == 400


# ---- any text at all: a value or an ExpressionError, never anything else -------------

PIECES = [
    "${", "$${", "}", "$", "{", ".", "@", "params", "steps", "df", "output", "x", "a-b",
    "rows_read", " ", "\n", "(", ")", "==", "!=", "<", "<=", ">", ">=", "and", "or", "not",
    "true", "false", "null", "'", '"', "\\", "'s'", '"d"', "0", "-1", "1.5", "1.", "=", "!",
    "AND", "foo", "_", "-", "é",
]  # fmt: skip
texts = st.text() | st.lists(st.sampled_from(PIECES), max_size=24).map("".join)
PARSERS = [parse_template, parse_condition, parse_connection]


@given(text=texts)
def test_any_text_parses_or_raises_expression_error(text: str) -> None:
    for parse in PARSERS:
        try:
            parse(text)
        except ExpressionError as err:
            assert 0 <= err.offset <= err.end_offset <= len(text)
            assert err.message


@given(
    text=texts,
    value=st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
)
def test_any_condition_evaluates_to_a_bool_or_raises_evaluation_error(
    text: str, value: object
) -> None:
    try:
        condition = parse_condition(text)
    except ExpressionError:
        return
    assert isinstance(condition, Condition)
    with contextlib.suppress(EvaluationError):
        assert condition.evaluate(lambda ref: value) in (True, False)
    assert set(condition.describe(lambda ref: value)) <= {str(r) for r in condition.references}
