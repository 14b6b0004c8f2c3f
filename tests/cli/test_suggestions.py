"""A mistyped command or option gets one usage line, the error and a "did you mean"."""

from __future__ import annotations

import pytest

from osiris_mcp.cli import main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["rnu", "x.yaml"], "invalid choice: 'rnu'"),
        (["validate", "--jsno", "x.yaml"], "unrecognized arguments: --jsno"),
        (["run", "--dry-rn", "x.yaml"], "unrecognized arguments: --dry-rn"),
        (["connections", "doctr"], "invalid choice: 'doctr'"),
    ],
)
def test_a_typo_is_answered_with_the_closest_name(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    meant = {"rnu": "'run'", "--jsno": "'--json'", "--dry-rn": "'--dry-run'", "doctr": "'doctor'"}
    assert said in err and f"did you mean {meant[argv[0] if argv[0] in meant else argv[1]]}?" in err
    assert "Traceback" not in err and err.startswith("usage: osiris")


def test_nothing_close_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--zzzzzz", "x.yaml"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --zzzzzz" in err and "did you mean" not in err
