"""secrets — no credential may be written into a pipeline file.

A literal in a field the component marks secret, a literal under a common secret name,
or a password inside a URL is an error. The value itself never appears in any message:
`secret_values` collects them so every output of the compile can be scrubbed.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - {id: a, component: mysql.extractor, mode: read,
...      config: {query: "SELECT 1", password: hunter2}}
... '''
>>> [(d.code, "hunter2" in d.message) for d in validate_text(src)]
[('SEC501', False)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from compiler.loader import Mapping, Node, Scalar, Sequence, pointer
from compiler.program import CompileContext, Program
from components.common.secrets import is_secret_key, mask_known, url_password

#: A URL's query string carrying a password: `?password=`, `&pwd=` (JDBC URLs do this).
QUERY_PASSWORD = re.compile(r"[?&;](?:password|passwd|pwd)=(?P<password>[^&#;\s]+)", re.I)
#: key=value DSNs: "host=... password=secret ..." (a host= or dbname= tells it from SQL)
DSN_PASSWORD = re.compile(
    r"^(?=.*\b(?:host|dbname)\s*=).*?(?:^|\s)password\s*=\s*"
    r"(?P<password>'(?:[^'\\]|\\.)*'|\S+)",
    re.IGNORECASE,
)


def embedded_password(text: str) -> str | None:
    """The password written inside `text`: a URL's `user:password@` (read as connection
    resolution reads it), a URL query's `password=`, a key=value DSN's; None if none.
    Linear in the text's length: every `://` is looked at once.

    >>> embedded_password("jdbc:postgresql://db/dw?user=etl&password=s3cr@t")
    's3cr@t'
    >>> embedded_password("postgresql://etl:p@ss@db/dw"), embedded_password("see https://x.io")
    ('p@ss', None)
    """
    at = text.find("://")
    while at >= 0:
        following = text.find("://", at + 3)
        if at > 0 and text[at - 1].isalnum():
            segment = text[at + 3 : following if following >= 0 else len(text)]
            password = url_password(segment)
            if password and not _is_reference(password):
                return password
        at = following
    for pattern in (QUERY_PASSWORD, DSN_PASSWORD):
        match = pattern.search(text)
        if match and not _is_reference(match.group("password")):
            return match.group("password")
    return None


_HINT = (
    "put it in osiris_connections.yaml as ${ENV_VAR} (the value in .env or the environment) "
    "and refer to the connection with connection: '@family.alias'"
)


def secrets(program: Program, context: CompileContext) -> Program:
    """Report every literal credential; remember the values so no output can echo them."""
    document = program.document
    if document is None:
        return program
    registry = context.registry
    secret_paths: set[str] = set()
    if program.pipeline is not None and registry is not None:
        for step in program.pipeline.steps:
            spec = registry.get(step.component)
            if spec is None:
                continue
            base = program.step_path(step.id) + "/config"
            secret_paths.update(base + pointer for pointer in spec.secrets)
    _check_paths(program, context)
    _check_params(program, document)
    for key, node in _scalars(document, ""):
        if node.kind != "str" and node.kind not in ("int", "float"):
            continue
        text = str(node.text)
        if not text:
            continue
        if node.path in secret_paths:
            _report(program, "SEC501", f"'{key}' is a secret and is written inline", node, text)
        elif is_secret_key(key) and not _is_reference(text):
            _report(
                program,
                "SEC502",
                f"'{key}' looks like a credential and holds a literal value",
                node,
                text,
            )
        else:
            password = embedded_password(text)
            if password is not None:
                if password.startswith("'"):  # a quoted DSN value: \' and \\ escapes
                    password = password[1:-1]
                    program.secret_values.update(spellings(re.sub(r"\\(.)", r"\1", password)))
                _report(program, "SEC503", f"'{key}' contains a password", node, password)
    return program


def _check_params(program: Program, document: Node) -> None:
    """A param named like a credential is refused: a param's value is written into the
    build (manifest.yaml, meta.json) and every run's logs, where no secret may be."""
    params = document.get("params") if isinstance(document, Mapping) else None
    if not isinstance(params, Mapping):
        return
    for name, _ in params.items():
        given = program.param_sources.get(name, "")
        value = program.params.get(name)
        password = embedded_password(value) if isinstance(value, str) else None
        if password is not None and (given == "--param" or given.startswith("$")):
            # from the command line or the environment: no line of the file holds it, so
            # the secrets check of the document's scalars never saw it
            program.secret_values.update(spellings(password) | spellings(str(value)))
            program.report(
                "SEC503",
                f"param '{name}' (from {given}) contains a password: a param's value is "
                "written into the build and the run logs",
                pointer("/params", name),
                hint=_HINT,
                at_key=True,
            )
            continue
        if not is_secret_key(name):
            continue
        value = program.params.get(name)
        if isinstance(value, str | int | float) and str(value):
            program.secret_values.update(spellings(str(value)))
        program.report(
            "SEC502",
            f"param '{name}' looks like a credential: a param's value is written into the "
            "build and the run logs",
            pointer("/params", name),
            hint=_HINT,
            at_key=True,
        )


#: Config keys that name a file inside the connection's base_dir, or the step's own base
#: folder (which must stay inside the project), with the hint for each.
PATH_KEYS = {
    "path": "write a path relative to the connection's base_dir, without '..'",
    "base_dir": "leave base_dir to the connection, or write a folder inside the project "
    "relative to it; a folder elsewhere is a filesystem connection in osiris_connections.yaml",
}


def _check_paths(program: Program, context: CompileContext) -> None:
    """A file path must stay inside its base_dir, and a step's own base_dir inside the
    project: no absolute paths, no `..` escapes, no hidden files.

    The runtime checks again against the real folder (symbolic links included); this
    catches what the text alone shows, before anything runs.
    """
    if program.pipeline is None or context.registry is None:
        return
    for step in program.pipeline.steps:
        spec = context.registry.get(step.component)
        if spec is None or spec.family != "filesystem" or step.id in program.broken:
            continue
        config = program.configs.get(step.id, {})
        for key, hint in PATH_KEYS.items():
            value = config.get(key)
            if not isinstance(value, str):
                continue
            if key == "path" and _is_absolute(value):
                _check_absolute_path(program, context, step.id, config, value)
                continue
            problem = path_problem(value)
            if problem:
                program.report(
                    "SEC504",
                    f"'{key}' {problem}",
                    f"{program.step_path(step.id)}/config/{key}",
                    hint=hint,
                    step=step.id,
                )


def _is_absolute(value: str) -> bool:
    return value.startswith("/") or bool(re.match(r"^[A-Za-z]:[/\\]", value))


def _check_absolute_path(
    program: Program, context: CompileContext, step_id: str, config: dict[str, Any], value: str
) -> None:
    """An absolute path must lie under the base_dir of the step's filesystem connection,
    or, when the step names no connection, under the base_dir of any declared one."""
    import posixpath

    connection = config.get("connection")
    ref = connection if isinstance(connection, str) else "@filesystem"
    path = f"{program.step_path(step_id)}/config/path"
    normalized = posixpath.normpath(value.replace("\\", "/"))

    def under(base: str) -> str | None:
        root = posixpath.normpath(base.replace("\\", "/"))
        inside = posixpath.relpath(normalized, root) if normalized.startswith(root) else ".."
        return None if inside == ".." or inside.startswith("../") else inside

    base = context.filesystem_bases.get(ref)
    inside = under(base) if base is not None and "base_dir" not in config else None
    if inside is not None:
        problem = path_problem(inside)
        if problem:
            program.report("SEC504", f"'path' {problem}", path, step=step_id)
        return
    holder = next(
        (r for r, b in sorted(context.filesystem_bases.items()) if under(b) is not None), None
    )
    if holder is not None and connection is None and "base_dir" not in config:
        # As 0.5.7 does: the connection whose base_dir holds the file serves the step.
        # The manifest names it, so the run (and a reader) knows which folder is used.
        problem = path_problem(under(context.filesystem_bases[holder]) or "")
        if problem:
            program.report("SEC504", f"'path' {problem}", path, step=step_id)
        else:
            config["connection"] = holder
        return
    hint = (
        f"set connection: '{holder}' (its base_dir holds the file), or write the path "
        "relative to the step's connection"
        if holder is not None and holder != ref
        else "declare a filesystem connection whose base_dir holds it in "
        "osiris_connections.yaml (filesystem: {exports: {base_dir: /srv/exports}}) and set "
        "connection: '@filesystem.exports', or write a path relative to the base_dir"
    )
    program.report(
        "SEC504",
        f"'path' is an absolute path ({value!r}) outside the base_dir of {ref}",
        path,
        hint=hint,
        step=step_id,
    )


def path_problem(value: str) -> str | None:
    """Why a relative file path would leave its base folder or name a hidden file, or None.

    >>> path_problem("data/orders.csv") is None, path_problem("../x.csv"), path_problem(".env")
    (True, "leaves the base folder ('../x.csv')", "names a hidden file or folder ('.env')")
    """
    import posixpath

    text = value.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:/", text) or text.startswith("~"):
        return f"is an absolute path ({value!r})"
    normalized = posixpath.normpath(text)
    if normalized == ".." or normalized.startswith("../"):
        return f"leaves the base folder ({value!r})"
    if "\x00" in text:
        return "contains a NUL character"
    if any(part.startswith(".") for part in normalized.split("/") if part != "."):
        return f"names a hidden file or folder ({value!r})"
    return None


def _is_reference(text: str) -> bool:
    """An `@connection` or `${...}` is a pointer to a secret, not a secret."""
    stripped = text.strip()
    return stripped.startswith("@") or (stripped.startswith("${") and stripped.endswith("}"))


def _report(program: Program, code: str, message: str, node: Scalar, value: str) -> None:
    program.secret_values.update(spellings(value))
    if code != "SEC503":  # the whole scalar is the secret: mask it as the file spells it too
        program.secret_values.add(node.source[node.source_start : node.source_end])
    step = _step_id(program, node.path)
    program.report(code, message, node.path, hint=_HINT, step=step)


def spellings(value: str) -> set[str]:
    r"""A value as YAML and JSON may spell it: as is, with `\` escapes (double-quoted),
    with `''` for `'` (single-quoted). The source lines shown with a diagnostic hold these.

    >>> sorted(spellings('a"b'))
    ['a"b', 'a\\"b']
    """
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.replace("'", "''"),
    }


def _step_id(program: Program, path: str) -> str | None:
    for step_id, step_path in program.step_paths.items():
        if path.startswith(step_path + "/"):
            return step_id
    return None


def _scalars(node: Node, key: str) -> Iterator[tuple[str, Scalar]]:
    if isinstance(node, Scalar):
        yield key, node
    elif isinstance(node, Mapping):
        for child_key, child in node.items():
            yield from _scalars(child, child_key)
    elif isinstance(node, Sequence):
        for child in node.items:
            yield from _scalars(child, key)


def scrub(text: str, values: set[str] | frozenset[str]) -> str:
    """`text` with every secret value masked (components/common/secrets.py's rule: a short
    value only where the text says it is a secret, as in `password: pw`)."""
    return mask_known(text, values)
