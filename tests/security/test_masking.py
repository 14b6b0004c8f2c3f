"""One rule for masking a known secret (components/common/secrets.py): a value of
MIN_FREE_TEXT_LENGTH characters or more is masked wherever it occurs; a shorter one only
where the structure says it is a secret, so a common word stays readable."""

from __future__ import annotations

import pytest

from components.common.secrets import (
    MIN_FREE_TEXT_LENGTH,
    is_secret_key,
    mask,
    mask_known,
)
from runtime.redaction import Redactor


def test_a_short_password_never_masks_the_same_word_in_free_text() -> None:
    """Measured: a connection password `nobody` turned every "nobody" of an error into ***."""
    message = "nobody listens on 127.0.0.1:1 (nobody answered)"
    assert mask(message, {"nobody"}) == message
    assert Redactor(["nobody"]).text(message) == message
    assert len("nobody") < MIN_FREE_TEXT_LENGTH


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("password=nobody rejected", "password=*** rejected"),
        ("connect mysql://etl:nobody@db/shop", "connect mysql://etl:***@db/shop"),
        ("login root:nobody@db failed", "login root:***@db failed"),
        ('{"password": "nobody"}', '{"password": "***"}'),
        ("api_key: nobody", "api_key: ***"),
        ("user=nobody", "user=nobody"),  # not a secret key: structure says nothing
    ],
)
def test_a_short_password_is_masked_where_the_structure_says_it_is_one(
    text: str, masked: str
) -> None:
    assert mask(text, {"nobody"}) == masked


def test_a_short_known_value_under_a_secret_key_is_masked_in_data() -> None:
    redactor = Redactor(["nobody"])
    assert redactor.data({"password": "nobody", "user": "nobody", "note": "nobody came"}) == {
        "password": "***",
        "user": "nobody",
        "note": "nobody came",
    }


def test_a_long_password_is_masked_inside_text() -> None:
    secret = "Hunter2-Long!pw"
    for text in (
        f"login failed for {secret} today",
        f"the server said:{secret}:bye",
        f"percent-encoded {secret.replace('!', '%21')} too",
    ):
        assert secret not in mask(text, {secret})
        assert "Long" not in Redactor([secret]).text(text)
    assert mask_known(f"x{secret}y", {secret}) == "x***y"


def test_url_userinfo_passwords_are_masked_with_no_value_known() -> None:
    assert mask("dial postgresql://etl:p@ss@db/dw now") == "dial postgresql://etl:***@db/dw now"
    assert mask("jdbc:mysql://db/shop?user=u&password=pw1") == (
        "jdbc:mysql://db/shop?user=u&password=***"
    )
    assert mask("see https://example.com/a@b") == "see https://example.com/a@b"


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "DB_PASSWORD",
        "passwd",
        "pwd",
        "token",
        "api_key",
        "apikey",
        "secret",
        "service_role_key",
        "anon_role_key",
        "pg_dsn",
        "dsn",
        "credentials",
        "key",
        "private_key",
        "access_key",
    ],
)
def test_secret_key_names(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["host", "user", "primary_key", "keys", "database", "tokenizer", "port"]
)
def test_names_that_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)


def test_every_layer_uses_the_one_list() -> None:
    from compiler.passes.secrets import is_secret_key as compiler_is_secret_key
    from runtime.connections import is_secret_field

    assert all(is_secret_field(n) for n in ("password", "key", "token", "db_password"))
    assert compiler_is_secret_key is is_secret_key


def test_a_short_secret_that_is_no_word_is_masked_as_a_whole_token() -> None:
    """`s3cret` quoted back by a server is the password, not a word of the message; inside
    a longer token it is not the password."""
    masked = mask("syntax near 's3cret' at line 1; s3cret2 and xs3cret stay", {"s3cret"})
    assert masked == "syntax near '***' at line 1; s3cret2 and xs3cret stay"


def test_a_short_word_password_is_left_in_free_text_but_never_where_it_is_the_password() -> None:
    masked = mask("Access denied: nobody may connect; password: nobody", {"nobody"})
    assert masked == "Access denied: nobody may connect; password: ***"
