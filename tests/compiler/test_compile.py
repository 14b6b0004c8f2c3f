"""Compile: byte-identical builds, fingerprint semantics, and no secret in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.compile import default_context
from compiler.emit import compile_source
from compiler.manifest import verify

ROOT = Path(__file__).parents[2]
QUICKSTART = (ROOT / "examples" / "pipelines" / "quickstart.yaml").read_text("utf-8")
PARAMS = (ROOT / "examples" / "pipelines" / "params_and_profiles.yaml").read_text("utf-8")


def fps(source: str, **context: object) -> dict[str, str]:
    result = compile_source(source, default_context(**context))
    assert result.ok, result.diagnostics
    return result.fingerprints


def test_build_has_the_design_files_and_verifies() -> None:
    result = compile_source(QUICKSTART, default_context())
    assert sorted(result.files) == [
        "cfg/customers.json",
        "cfg/orders.json",
        "cfg/revenue.json",
        "cfg/write_revenue.json",
        "lineage.json",
        "manifest.yaml",
        "meta.json",
    ]
    assert verify(result.files) == []
    assert len(result.manifest_hash) == 64 and result.manifest_short == result.manifest_hash[:12]


def test_a_changed_file_fails_verification() -> None:
    files = dict(compile_source(QUICKSTART, default_context()).files)
    files["cfg/revenue.json"] = files["cfg/revenue.json"].replace(b"paid", b"refunded")
    assert verify(files) == ["cfg/revenue.json was changed after compilation"]
    files = dict(compile_source(QUICKSTART, default_context()).files)
    files["manifest.yaml"] = files["manifest.yaml"].replace(b"mode: read", b"mode: write", 1)
    assert "manifest_fp does not match" in verify(files)[0]


_SCRIPT = """
import sys, json
from compiler.compile import default_context
from compiler.emit import compile_source
result = compile_source(open(sys.argv[1], encoding="utf-8").read(), default_context())
sys.stdout.write(json.dumps({k: v.decode() for k, v in result.files.items()}))
"""


def test_two_processes_two_cwds_two_hash_seeds_give_identical_bytes(tmp_path: Path) -> None:
    outputs = []
    for seed, cwd in (("1", tmp_path), ("4242", ROOT)):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _SCRIPT,
                str(ROOT / "examples" / "pipelines" / "params_and_profiles.yaml"),
            ],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    text = "".join(outputs[0].values())
    assert str(tmp_path) not in text and str(ROOT) not in text


def test_formatting_comments_and_key_order_keep_oml_fp() -> None:
    reformatted = (
        QUICKSTART.replace("SELECT c.customer_id,", "select   c.customer_id ,  -- the key\n")
        .replace("FROM orders AS o", "from orders as o /* orders */")
        .replace("    mode: read\n    config:", "    config:")
        .replace(
            "      path: data/orders.csv\n", "      path: data/orders.csv\n    mode: read\n", 1
        )
        .replace(
            "      path: data/customers.csv\n",
            "      path: data/customers.csv\n    mode: read\n",
            1,
        )
    )
    assert reformatted != QUICKSTART
    assert fps(reformatted)["oml_fp"] == fps(QUICKSTART)["oml_fp"]


def test_a_changed_predicate_changes_oml_fp() -> None:
    changed = QUICKSTART.replace("o.status = 'paid'", "o.status = 'refunded'")
    assert fps(changed)["oml_fp"] != fps(QUICKSTART)["oml_fp"]


def test_a_changed_param_changes_only_params_fp_and_manifest_fp() -> None:
    base = fps(PARAMS)
    other = fps(PARAMS, params={"min_amount": "75"})
    changed = {k for k in base if base[k] != other[k]}
    assert changed == {"params_fp", "manifest_fp"}


def test_a_profile_is_recorded_and_changes_params() -> None:
    dev = compile_source(PARAMS, default_context(profile="dev"))
    assert dev.fingerprints["profile"] == "dev"
    assert json.loads(dev.files["meta.json"])["params"]["max_rows"] == 10
    assert json.loads(dev.files["meta.json"])["param_sources"]["max_rows"] == "profile 'dev'"


def test_params_keep_their_type_in_bound_config() -> None:
    source = PARAMS.replace("LIMIT ${params.max_rows}", "LIMIT 5")
    result = compile_source(source, default_context(params={"max_rows": "7"}))
    meta = json.loads(result.files["meta.json"])
    assert meta["params"]["max_rows"] == 7 and isinstance(meta["params"]["max_rows"], int)
    config = json.loads(result.files["cfg/large_orders.json"])
    assert "WHERE amount >= 50" in config["query"]


def test_param_precedence_cli_over_env_over_profile_over_default() -> None:
    def bound(**context: object) -> object:
        result = compile_source(PARAMS, default_context(**context))
        return json.loads(result.files["meta.json"])["params"]["max_rows"]

    env = {"OSIRIS_PARAM_MAX_ROWS": "20"}
    assert bound() == 1000
    assert bound(profile="dev") == 10
    assert bound(profile="dev", env=env) == 20
    assert bound(profile="dev", env=env, params={"max_rows": "30"}) == 30


CANARY = "Canary-7f3a9-s3cret"


@pytest.mark.parametrize(
    "config_line",
    [
        f"      password: {CANARY}",
        f"      api_token: {CANARY}",
        f'      url: "postgresql://admin:{CANARY}@db.example.com/shop"',
    ],
)
def test_secret_canary_appears_in_no_output(config_line: str, tmp_path: Path) -> None:
    source = QUICKSTART.replace(
        "      path: data/orders.csv\n", f"      path: data/orders.csv\n{config_line}\n", 1
    )
    result = compile_source(source, default_context())
    assert not result.ok
    assert any(d.code.startswith("SEC5") for d in result.diagnostics)
    dumped = json.dumps([d.to_dict() for d in result.diagnostics])
    assert CANARY not in dumped
    path = tmp_path / "p.yaml"
    path.write_text(source)
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "osiris_mcp.cli",
                "compile",
                str(path),
                "--project",
                str(tmp_path),
                *extra,
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2
        assert CANARY not in done.stdout + done.stderr
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(
    ("params", "env", "code"),
    [
        ({"max_rows": "0"}, {}, "PAR604"),
        ({"status": "lost"}, {}, "PAR603"),
        ({}, {"OSIRIS_PARAM_MAX_ROWS": "ten"}, "PAR602"),
    ],
)
def test_a_bad_param_gives_its_own_error_and_no_other(
    params: dict[str, str], env: dict[str, str], code: str
) -> None:
    result = compile_source(PARAMS, default_context(params=params, env=env))
    assert [d.code for d in result.diagnostics if d.is_error] == [code]
