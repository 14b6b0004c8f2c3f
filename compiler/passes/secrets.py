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

import re
from collections.abc import Iterator

from compiler.loader import Mapping, Node, Scalar, Sequence
from compiler.program import CompileContext, Program

#: Key names that hold credentials whatever the component says.
SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|pwd|secret|token|api_?key|apikey|access_?key|private_?key|"
    r"service_?role_?key|credentials?|dsn|pg_dsn)($|_)",
    re.IGNORECASE,
)
#: scheme://user:password@host — the password part, for any scheme.
URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:(?P<password>[^@\s/]+)@")
#: key=value DSNs: "host=... password=secret ..." (a host= or dbname= tells it from SQL)
DSN_PASSWORD = re.compile(
    r"^(?=.*\b(?:host|dbname)\s*=).*?(?:^|\s)password\s*=\s*(?P<password>'[^']*'|\S+)",
    re.IGNORECASE,
)

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
    for key, node in _scalars(document, ""):
        if node.kind != "str" and node.kind not in ("int", "float"):
            continue
        text = str(node.text)
        if not text:
            continue
        if node.path in secret_paths:
            _report(program, "SEC501", f"'{key}' is a secret and is written inline", node, text)
        elif SECRET_KEY.search(key) and not _is_reference(text):
            _report(
                program,
                "SEC502",
                f"'{key}' looks like a credential and holds a literal value",
                node,
                text,
            )
        else:
            for pattern in (URL_PASSWORD, DSN_PASSWORD):
                match = pattern.search(text)
                if match and not _is_reference(match.group("password")):
                    _report(
                        program,
                        "SEC503",
                        f"'{key}' contains a password",
                        node,
                        match.group("password").strip("'"),
                    )
                    break
    return program


#: Config keys that name files inside the connection's base_dir.
PATH_KEYS = ("path",)


def _check_paths(program: Program, context: CompileContext) -> None:
    """A file path must stay inside its base_dir: no absolute paths, no `..` escapes.

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
        for key in PATH_KEYS:
            value = config.get(key)
            if not isinstance(value, str):
                continue
            problem = path_problem(value)
            if problem:
                program.report(
                    "SEC504",
                    f"'{key}' {problem}",
                    f"{program.step_path(step.id)}/config/{key}",
                    hint="write a path relative to the connection's base_dir, without '..'",
                    step=step.id,
                )


def path_problem(value: str) -> str | None:
    """Why a relative file path would leave its base folder, or None when it stays inside."""
    import posixpath

    text = value.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:/", text) or text.startswith("~"):
        return f"is an absolute path ({value!r})"
    normalized = posixpath.normpath(text)
    if normalized == ".." or normalized.startswith("../"):
        return f"leaves the base folder ({value!r})"
    if "\x00" in text:
        return "contains a NUL character"
    return None


def _is_reference(text: str) -> bool:
    """An `@connection` or `${...}` is a pointer to a secret, not a secret."""
    stripped = text.strip()
    return stripped.startswith("@") or (stripped.startswith("${") and stripped.endswith("}"))


def _report(program: Program, code: str, message: str, node: Scalar, value: str) -> None:
    program.secret_values.add(value)
    step = _step_id(program, node.path)
    program.report(code, message, node.path, hint=_HINT, step=step)


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
    """Replace every secret value in `text` with ***, longest first."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, "***")
    return text
