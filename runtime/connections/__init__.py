"""The one connection resolver: `osiris_connections.yaml` + environment → fields.

The doctor that tries each connection for real is `runtime/connections/doctor.py`.

CLI, MCP server and runtime all resolve connections here, so they can never disagree.

    connections:
      mysql:
        main:
          default: true
          host: ${MYSQL_HOST:-127.0.0.1}
          password: ${MYSQL_PASSWORD}

`${VAR}` and `${VAR:-default}` take their values from the environment, then from a `.env`
file beside the connections file (an exported variable wins). Resolution order, as 0.5.7
documents it: the step's inline (non-secret) fields > `@family.alias` > the family's
default alias > the family's environment variables (`ENVIRONMENT_FIELDS`, when the file
has no connection of that family) > an error that lists the aliases. A family Osiris has
no component for (`graphql:`, `shopify:`) is kept and listed, never an error: the file is
shared with other tools and with components added later. Resolved values live in memory
only; every secret value is reported in `ResolvedConnection.secret_values` so the run's
redactor can mask it wherever it appears.

>>> import tempfile
>>> project = Path(tempfile.mkdtemp())
>>> _ = (project / FILENAME).write_text(
...     "connections:\\n  mysql:\\n    main:\\n      host: db\\n      password: ${PW}\\n")
>>> resolved = ConnectionsFile.load(project, env={"PW": "s3cret!"}).resolve("@mysql", "mysql")
>>> resolved.ref, resolved.fields["host"], sorted(resolved.secret_values)
('@mysql.main', 'db', ['s3cret!'])
>>> mask(resolved.fields)
{'host': 'db', 'password': '***'}
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from components.common import strict_yaml
from components.common.errors import HintedError
from components.common.secrets import is_secret_key, split_credentials

FILENAME = "osiris_connections.yaml"
DOTENV = ".env"
#: Families Osiris has components for; any other loads too (those no component in the
#: registry uses are listed by `unknown_families`).
FAMILIES = ("mysql", "postgres", "supabase", "duckdb", "filesystem", "graphql", "posthog")
#: family -> field -> the environment variable 0.5.7 reads for it (its `osiris init` .env
#: template, its MySQL/Supabase environment configuration and its PostHog hints). Used
#: only when the connections file has no connection of the family.
ENVIRONMENT_FIELDS: dict[str, dict[str, str]] = {
    "mysql": {
        "host": "MYSQL_HOST",
        "port": "MYSQL_PORT",
        "database": "MYSQL_DATABASE",
        "user": "MYSQL_USER",
        "password": "MYSQL_PASSWORD",
    },
    "postgres": {"password": "POSTGRES_PASSWORD"},
    "supabase": {
        "url": "SUPABASE_URL",
        "project_id": "SUPABASE_PROJECT_ID",
        "service_role_key": "SUPABASE_SERVICE_ROLE_KEY",
        "key": "SUPABASE_ANON_PUBLIC_KEY",
    },
    "posthog": {"api_key": "POSTHOG_API_KEY", "project_id": "POSTHOG_PROJECT_ID"},
}
#: Where `facts()` says a connection read from `ENVIRONMENT_FIELDS` came from.
ENVIRONMENT = "(environment)"
MASK = "***"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: `_NAME` in words, for the hint when a family or alias is refused.
_NAME_RULE = "a letter or _, then letters, digits, _ or -"
_REF = re.compile(
    r"^@?(?P<family>[A-Za-z_][A-Za-z0-9_-]*)(?:\.(?P<alias>[A-Za-z_][A-Za-z0-9_-]*))?$"
)
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DSN_PASSWORD = re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.IGNORECASE)


# -- errors -----------------------------------------------------------------------------------


class ConnectionError(HintedError):
    """A connection that cannot be resolved. The message never holds a secret value.

    It shadows the builtin of the same name inside this module on purpose (it is the name
    callers import); the builtin stays reachable as `builtins.ConnectionError`.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint)


class ConnectionsFileError(ConnectionError):
    """`osiris_connections.yaml` or `.env` is malformed; `path` and `line` say where."""

    def __init__(self, path: Path, line: int | None, problem: str, *, hint: str | None = None):
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}", hint=hint)
        self.path = path
        self.line = line


class MissingVariableError(ConnectionError):
    """A `${VAR}` without a value, in the environment or in `.env`."""

    def __init__(self, variable: str, connection: str, field_name: str, hint: str) -> None:
        super().__init__(
            f"{connection}: environment variable {variable} is not set (used by `{field_name}`)",
            hint=hint,
        )
        self.variable = variable
        self.connection = connection
        self.field = field_name


class UnknownConnectionError(ConnectionError):
    """No such alias, no default for the family, or a malformed reference."""

    def __init__(self, message: str, available: list[str], *, hint: str | None = None) -> None:
        if hint is None:
            hint = "available: " + ", ".join(available) if available else f"add it to {FILENAME}"
        super().__init__(message, hint=hint)
        self.available = available


# -- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionInfo:
    """One alias as `connections list` shows it: secrets masked, unset variables named."""

    family: str
    alias: str
    is_default: bool
    fields: dict[str, Any]
    missing_variables: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"@{self.family}.{self.alias}"

    def to_dict(self) -> dict[str, Any]:
        """The alias as `osiris connections list --json` and the connections_list tool show it."""
        return {
            "ref": self.ref,
            "family": self.family,
            "alias": self.alias,
            "default": self.is_default,
            "fields": self.fields,
            "missing_variables": list(self.missing_variables),
        }


@dataclass(frozen=True, repr=False)
class ResolvedConnection:
    """A connection's fields with every variable substituted. Secrets in memory only.

    `alias` is None for a connection given wholly inline in a step's config. `repr()` masks
    the secrets, so a resolved connection in a traceback or a log line gives nothing away.
    """

    family: str
    alias: str | None
    fields: dict[str, Any]
    secret_values: frozenset[str] = frozenset()
    #: True when the fields came from the family's environment variables (no alias).
    from_environment: bool = False

    @property
    def ref(self) -> str:
        if self.alias:
            return f"@{self.family}.{self.alias}"
        return f"@{self.family} ({'environment' if self.from_environment else 'inline'})"

    def masked(self) -> dict[str, Any]:
        return mask(self.fields)

    def __repr__(self) -> str:
        return f"ResolvedConnection({self.ref}, fields={self.masked()!r})"


# -- the file ---------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ConnectionsFile:
    """`osiris_connections.yaml` of a project, with the variables it may use.

    A project without the file loads as empty: inline connections still resolve, and
    anything else is an error saying the file is missing.
    """

    project_dir: Path
    path: Path
    exists: bool
    #: family -> alias -> raw fields (`${...}` not yet substituted), in file order
    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: (family, alias) and (family, alias, field) -> line in the file, for messages
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    #: environment variables as substitution sees them (.env overlaid by the environment)
    variables: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, project_dir: Path, env: Mapping[str, str] | None = None) -> ConnectionsFile:
        """Read `osiris_connections.yaml` and `.env` from `project_dir`.

        `env` stands for the process environment (default: `os.environ`); its variables
        win over those of `.env`.
        """
        project_dir = Path(project_dir).absolute()
        path = project_dir / FILENAME
        variables = {**read_dotenv(project_dir / DOTENV), **(os.environ if env is None else env)}
        if not path.is_file():
            return cls(project_dir, path, False, variables=variables)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConnectionsFileError(path, None, f"cannot read the file ({err})") from None
        entries, lines = _parse(path, text)
        return cls(project_dir, path, True, entries, lines, variables)

    def __repr__(self) -> str:
        return f"ConnectionsFile({str(self.path)!r}, refs={sorted(self.refs())!r})"

    def families(self) -> list[str]:
        """The families that have at least one alias."""
        return [family for family, aliases in self.entries.items() if aliases]

    def unknown_families(self) -> list[str]:
        """Families in the file that no Osiris component uses (kept, listed, never an error)."""
        from components.registry import default_registry

        used = {spec.family for spec in default_registry()} | set(FAMILIES)
        return [family for family in self.entries if family not in used]

    def refs(self) -> frozenset[str]:
        """Every reference that resolves: `@family.alias`, and `@family` where a default
        exists (an alias, or the family's environment variables when it has no alias)."""
        found = {
            f"@{family}.{alias}" for family, aliases in self.entries.items() for alias in aliases
        }
        for family in self.entries:
            if self._default_alias(family) is not None:
                found.add(f"@{family}")
        for family in ENVIRONMENT_FIELDS:
            if not self.entries.get(family) and self._environment_fields(family):
                found.add(f"@{family}")
        return frozenset(found)

    def aliases(self) -> list[ConnectionInfo]:
        """Every alias, secrets masked; an unset variable stays `${NAME}` and is listed."""
        infos = []
        for family, aliases in self.entries.items():
            default = self._default_alias(family)
            for alias, raw in aliases.items():
                missing: list[str] = []
                fields = self._substitute(family, alias, _fields_of(raw), missing)
                fields = self._normalize(fields, family, strict=False)
                infos.append(
                    ConnectionInfo(family, alias, alias == default, mask(fields), tuple(missing))
                )
        return infos

    def secret_values(self) -> frozenset[str]:
        """Every alias's secret values (for redactors); values still holding an unset variable
        are left out."""
        found: set[str] = set()
        for family, aliases in self.entries.items():
            for alias, raw in aliases.items():
                missing: list[str] = []
                fields = self._substitute(family, alias, _fields_of(raw), missing)
                placeholders = tuple(f"${{{name}" for name in missing)
                found |= {
                    value
                    for value in secret_values_of(fields)
                    if not any(p in value for p in placeholders)
                }
        return frozenset(found)

    def facts(self) -> dict[str, dict[str, Any]]:
        """What the compiler may record about each reference that resolves, by reference:
        the alias it names and, per field, its value and where it came from. Never a secret:
        a secret field (or one whose value comes from a secret-named variable, or is not a
        plain scalar) is recorded as present, without its value. An unset variable is noted.

        >>> import tempfile
        >>> project = Path(tempfile.mkdtemp())
        >>> _ = (project / FILENAME).write_text("connections:\\n  mysql:\\n    main:\\n"
        ...     "      host: ${DB_HOST}\\n      port: 3306\\n      password: ${DB_PW}\\n")
        >>> facts = ConnectionsFile.load(project, env={"DB_HOST": "db"}).facts()
        >>> facts["@mysql"] == facts["@mysql.main"], facts["@mysql"]["ref"]
        (True, '@mysql.main')
        >>> fields = facts["@mysql"]["fields"]
        >>> fields["host"], fields["port"]["value"]
        ({'from': '@mysql.main', 'variable': 'DB_HOST', 'value': 'db'}, 3306)
        >>> fields["password"]
        {'from': '@mysql.main', 'variable': 'DB_PW', 'unset': True, 'secret': True}
        """
        found: dict[str, dict[str, Any]] = {}
        for family, aliases in self.entries.items():
            for alias, raw in aliases.items():
                ref = f"@{family}.{alias}"
                fields = {
                    name: self._field_fact(family, alias, name, value, ref)
                    for name, value in _fields_of(raw).items()
                }
                found[ref] = {"ref": ref, "fields": fields}
            default = self._default_alias(family)
            if default is not None:
                found[f"@{family}"] = found[f"@{family}.{default}"]
        for family, names in ENVIRONMENT_FIELDS.items():
            if self.entries.get(family) or not self._environment_fields(family):
                continue
            fields = {}
            for name, variable in names.items():
                value = self.variables.get(variable)
                if not value:
                    continue
                fact: dict[str, Any] = {"from": ENVIRONMENT, "variable": variable}
                if is_secret_field(name) or is_secret_field(variable):
                    fact["secret"] = True
                else:
                    fact["value"] = _port(value) if name == "port" else value
                fields[name] = fact
            found[f"@{family}"] = {"ref": f"@{family}", "from": ENVIRONMENT, "fields": fields}
        return found

    def _field_fact(self, family: str, alias: str, name: str, raw: Any, ref: str) -> dict[str, Any]:
        missing: list[str] = []
        value = self._substitute(family, alias, {name: raw}, missing)[name]
        variables = _VARIABLE.findall(json.dumps(raw, default=str))
        fact: dict[str, Any] = {"from": ref}
        if variables:
            fact["variable"] = ", ".join(dict.fromkeys(v for v, _ in variables))
        if missing:
            fact["unset"] = True
        secret = is_secret_field(name) or any(is_secret_field(v) for v, _ in variables)
        if secret:
            fact["secret"] = True
        elif not missing:
            if not isinstance(value, str | int | float | bool) and value is not None:
                fact["secret"] = True  # nested values (headers, options) may hold a token
            elif isinstance(value, str) and mask({name: value})[name] != value:
                fact["secret"] = True  # a URL or DSN with a password in it
            else:
                fact["value"] = _port(value) if name == "port" else value
        return fact

    def resolve(
        self, ref: str | None, family: str, inline: Mapping[str, Any] | None = None
    ) -> ResolvedConnection:
        """The connection a step of `family` uses: `ref` (`@family.alias` or `@family`) or the
        family's default, with `inline` fields from the step's config overriding its fields.

        Without `ref`, a family that has no alias at all resolves to the inline fields alone.
        """
        inline_fields = {k: v for k, v in (inline or {}).items() if v is not None}
        alias: str | None = None
        if ref is not None:
            ref_family, alias = parse_ref(ref)
            if ref_family != family:
                raise UnknownConnectionError(
                    f"{ref} is a {ref_family} connection, but this step needs a {family} one",
                    self._refs_of(family),
                )
        if alias is None and not self.entries.get(family):
            environment = self._environment_fields(family)
            if environment or (inline_fields and ref is None):
                fields = {**environment, **inline_fields}
                fields = self._normalize(fields, family, strict=True, ref=f"@{family}")
                return ResolvedConnection(
                    family, None, fields, secret_values_of(fields), bool(environment)
                )
        alias = alias or self._require_default(family)
        raw = self.entries.get(family, {}).get(alias)
        if raw is None:
            available = self._refs_of(family)
            close = difflib.get_close_matches(f"@{family}.{alias}", available, n=1)
            hint = f"did you mean {close[0]}?" if close else None
            raise UnknownConnectionError(
                f"no connection @{family}.{alias} in {self._where()}", available, hint=hint
            )
        fields = self._substitute(family, alias, _fields_of(raw), None)
        fields.update(inline_fields)
        fields = self._normalize(fields, family, strict=True, ref=f"@{family}.{alias}")
        return ResolvedConnection(family, alias, fields, secret_values_of(fields))

    # -- internals ----------------------------------------------------------------------------

    def _where(self) -> str:
        return str(self.path) if self.exists else f"{self.path} (the file does not exist)"

    def _refs_of(self, family: str) -> list[str]:
        return [f"@{family}.{alias}" for alias in self.entries.get(family, {})]

    def _default_alias(self, family: str) -> str | None:
        """The alias marked `default: true`; else one named `default` (as 0.5.7 picks it);
        else the only alias."""
        aliases = self.entries.get(family, {})
        marked = [alias for alias, raw in aliases.items() if raw.get("default") is True]
        if len(marked) == 1:
            return marked[0]
        if not marked and "default" in aliases:
            return "default"
        if not marked and len(aliases) == 1:
            return next(iter(aliases))
        return None

    def _environment_fields(self, family: str) -> dict[str, Any]:
        """The family's fields from its 0.5.7 environment variables that are set (non-empty)."""
        names = ENVIRONMENT_FIELDS.get(family, {})
        return {field: self.variables[v] for field, v in names.items() if self.variables.get(v)}

    def _require_default(self, family: str) -> str:
        alias = self._default_alias(family)
        if alias is not None:
            return alias
        available = self._refs_of(family)
        if not available:
            hint = f"add a {family} connection to {FILENAME} (`osiris init` writes an example)"
            variables = ENVIRONMENT_FIELDS.get(family)
            if variables:
                hint += ", or set " + ", ".join(variables.values())
            raise UnknownConnectionError(
                f"no {family} connection in {self._where()}", [], hint=hint
            )
        marked = [a for a, raw in self.entries[family].items() if raw.get("default") is True]
        problem = (
            "several are marked default: " + ", ".join(marked) if marked else "none is default"
        )
        raise UnknownConnectionError(
            f"no default {family} connection ({problem}); name one of: " + ", ".join(available),
            available,
            hint=f"write @{family}.<alias>, or mark exactly one alias `default: true`",
        )

    def _substitute(
        self, family: str, alias: str, fields: dict[str, Any], missing: list[str] | None
    ) -> dict[str, Any]:
        """Substitute `${...}`; an unset variable raises, or (with `missing`) is kept and noted."""
        ref = f"@{family}.{alias}"

        def value_of(match: re.Match[str], field_name: str) -> str:
            name, default = match.group("name"), match.group("default")
            value = self.variables.get(name)
            if default is not None and not value:  # like the shell: empty counts as unset
                return default
            if value is not None:
                return value
            if missing is not None:
                if name not in missing:
                    missing.append(name)
                return match.group(0)
            line = self.lines.get((family, alias, field_name.split(".")[0]))
            line = line or self.lines.get((family, alias))
            where = f"{self.path.name} line {line}" if line else self.path.name
            raise MissingVariableError(
                name,
                ref,
                field_name,
                hint=f"export {name}=..., or add `{name}=...` to {self.project_dir / DOTENV}"
                f" (it is used in {where})",
            )

        def walk(value: Any, field_name: str) -> Any:
            if isinstance(value, str):
                return _VARIABLE.sub(lambda m: value_of(m, field_name), value)
            if isinstance(value, list):
                return [walk(item, field_name) for item in value]
            if isinstance(value, dict):
                return {k: walk(v, f"{field_name}.{k}") for k, v in value.items()}
            return value

        return {name: walk(value, name) for name, value in fields.items()}

    def _normalize(
        self, fields: dict[str, Any], family: str, *, strict: bool, ref: str = ""
    ) -> dict[str, Any]:
        """Ports as numbers; `base_dir` (filesystem) and `path` (duckdb) absolute."""
        fields = dict(fields)
        port = fields.get("port")
        if isinstance(port, str) and port.strip().isdigit():
            fields["port"] = int(port)
        elif (
            strict
            and port not in (None, "")
            and (isinstance(port, bool) or not isinstance(port, int))
        ):
            raise ConnectionError(
                f"{ref}: `port` must be a number", hint="set `port` to a number such as 5432"
            )
        anchored = {"filesystem": "base_dir", "duckdb": "path"}.get(family)
        value = fields.get(anchored) if anchored else None
        if (
            anchored
            and isinstance(value, str)
            and value not in ("", ":memory:")
            and "${" not in value
        ):
            fields[anchored] = str(self.project_dir / Path(value).expanduser())
        return fields


def _fields_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "default"}


def _port(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


# -- parsing ----------------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`@mysql.main` → ("mysql", "main"); `@mysql` → ("mysql", None).

    >>> parse_ref("@postgres.warehouse"), parse_ref("@filesystem")
    (('postgres', 'warehouse'), ('filesystem', None))
    """
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if match is None:
        raise UnknownConnectionError(
            f"invalid connection reference {ref!r}",
            [],
            hint="write @family.alias (e.g. @mysql.main), or @family for its default",
        )
    return match.group("family"), match.group("alias")


def _parse(
    path: Path, text: str
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[tuple[str, ...], int]]:
    """The file's connections by family and alias, and the lines of aliases and fields."""
    try:
        node = strict_yaml.compose(text)
        data = strict_yaml.construct(node)
    except strict_yaml.YamlError as err:
        if err.duplicate_key is not None:
            duplicate = f"duplicate key {err.duplicate_key!r}"
            raise ConnectionsFileError(path, err.line, duplicate) from None
        if err.line is None:
            raise ConnectionsFileError(path, None, f"YAML error: {err.problem}") from None
        # The problem and context only: the source line may hold a secret.
        context = f" ({err.context})" if err.context else ""
        raise ConnectionsFileError(
            path,
            err.line,
            f"YAML syntax error: {err.problem or 'invalid YAML'}{context}",
            hint="check the indentation and quoting on this line and the one before it",
        ) from None
    if data is None:
        return {}, {}
    lines = _key_lines(node)
    example = (
        "connections:\n  mysql:\n    main: {host: ..., user: ..., password: ${MYSQL_PASSWORD}}"
    )
    if not isinstance(data, dict):
        raise ConnectionsFileError(
            path, 1, "expected a mapping with a `connections` key", hint=example
        )
    unknown = sorted(str(k) for k in data if k not in ("connections", "version"))
    if unknown:
        raise ConnectionsFileError(
            path,
            lines.get((unknown[0],)),
            f"unknown top-level key {unknown[0]!r}",
            hint="the file holds one key, `connections`, mapping family → alias → fields",
        )
    connections = data.get("connections") or {}
    if not isinstance(connections, dict):
        raise ConnectionsFileError(
            path, lines.get(("connections",)), "`connections` must be a mapping", hint=example
        )
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    alias_lines: dict[tuple[str, ...], int] = {}
    for family, aliases in connections.items():
        line = lines.get(("connections", family))
        # A family without an Osiris component is kept: 0.5.7 files hold graphql:, shopify:
        # and the like, and components for new families arrive later.
        problem = f"invalid connection family {family!r}"
        _check_name(path, line, family, problem, f"a family is {_NAME_RULE} (e.g. mysql)")
        if aliases is None:
            entries[family] = {}
            continue
        if not isinstance(aliases, dict):
            raise ConnectionsFileError(
                path, line, f"`{family}` must map aliases to their fields", hint=example
            )
        entries[family] = {}
        for alias, fields in aliases.items():
            line = lines.get(("connections", family, alias))
            problem = f"invalid alias {alias!r} under `{family}`"
            _check_name(path, line, alias, problem, f"an alias is {_NAME_RULE}")
            if not isinstance(fields, dict):
                raise ConnectionsFileError(
                    path, line, f"@{family}.{alias} must be a mapping of fields", hint=example
                )
            if not all(isinstance(key, str) for key in fields):
                raise ConnectionsFileError(path, line, f"@{family}.{alias}: field names are text")
            if "default" in fields and not isinstance(fields["default"], bool):
                raise ConnectionsFileError(
                    path,
                    lines.get(("connections", family, alias, "default"), line),
                    f"@{family}.{alias}: `default` must be true or false",
                )
            entries[family][alias] = dict(fields)
            if line:
                alias_lines[family, alias] = line
            for name in fields:
                field_line = lines.get(("connections", family, alias, name))
                if field_line:
                    alias_lines[family, alias, name] = field_line
    return entries, alias_lines


def _check_name(path: Path, line: int | None, key: object, problem: str, hint: str) -> None:
    """Refuse a family or alias key that `_NAME` does not accept."""
    if not isinstance(key, str) or not _NAME.match(key):
        raise ConnectionsFileError(path, line, problem, hint=hint)


def _key_lines(node: Any) -> dict[tuple[Any, ...], int]:
    """(key, key, ...) → line, for the mapping keys of the first four levels."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(current: Any, prefix: tuple[Any, ...]) -> None:
        if not isinstance(current, yaml.MappingNode) or len(prefix) >= 4:
            return
        for key, value in current.value:
            if isinstance(key, yaml.ScalarNode):
                here = (*prefix, key.value)
                lines[here] = key.start_mark.line + 1
                walk(value, here)

    walk(node, ())
    return lines


def read_dotenv(path: Path) -> dict[str, str]:
    """`KEY=VALUE` lines of a `.env` file; `export ` prefixes, quotes and comments allowed.

    A missing file reads as empty. Errors name the line, never its content (it may be a
    secret).

    >>> import tempfile
    >>> env = Path(tempfile.mkdtemp()) / ".env"
    >>> _ = env.write_text("# db\\nexport A=1\\nB='x # y'\\nC=\\"q\\\\\\"z\\"  # note\\nD=v # c\\n")
    >>> read_dotenv(env)
    {'A': '1', 'B': 'x # y', 'C': 'q"z', 'D': 'v'}
    """
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise ConnectionsFileError(
            path, None, f"cannot read the file ({type(err).__name__})"
        ) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _ENV_NAME.match(key):
            raise ConnectionsFileError(
                path, number, "expected KEY=VALUE", hint="a line is KEY=VALUE, a comment or blank"
            )
        values[key] = _dotenv_value(path, number, value.strip())
    return values


def _dotenv_value(path: Path, number: int, value: str) -> str:
    if value[:1] not in ("'", '"'):
        return re.split(r"\s#", value, maxsplit=1)[0].rstrip()
    quote, out, index = value[0], [], 1
    while index < len(value):
        char = value[index]
        if quote == '"' and char == "\\" and index + 1 < len(value):
            escaped = value[index + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(escaped, escaped))
            index += 2
            continue
        if char == quote:
            rest = value[index + 1 :].strip()
            if rest and not rest.startswith("#"):
                break
            return "".join(out)
        out.append(char)
        index += 1
    raise ConnectionsFileError(path, number, "unterminated or malformed quoted value")


# -- secrets ----------------------------------------------------------------------------------


def is_secret_field(name: str) -> bool:
    """True for a field whose value is a secret (password, token, dsn, ...).

    >>> is_secret_field("password"), is_secret_field("db_password"), is_secret_field("host")
    (True, True, False)
    """
    return is_secret_key(name)


def secret_values_of(fields: Mapping[str, Any]) -> frozenset[str]:
    """Every secret value in `fields`: secret fields whole, and passwords inside URLs/DSNs.

    >>> sorted(secret_values_of({"password": "pw1", "url": "postgresql://u:p%40ss@h/db"}))
    ['p%40ss', 'p@ss', 'pw1']
    """
    found: set[str] = set()

    def walk(name: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(str(key), item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(name, item)
        elif value is not None and not isinstance(value, bool) and str(value) != "":
            text = str(value)
            if is_secret_field(name):
                found.add(text)
            found.update(_embedded_passwords(text))

    for key, value in fields.items():
        walk(key, value)
    return frozenset(found)


def _embedded_passwords(text: str) -> set[str]:
    """The password of a URL (`scheme://user:password@host`) or a DSN (`password=...`)."""
    found: set[str] = set()
    if "://" in text and "@" in text:
        # read as resolution reads it, so the secret learnt is the one that is sent
        credentials, _ = split_credentials(text.strip().split("://", 1)[1])
        password = (credentials or "").partition(":")[2]
        if password:
            found |= {password, unquote(password)}
    for match in _DSN_PASSWORD.finditer(text):
        value = match.group(1)
        if value.startswith("'"):  # libpq quoting: \' and \\ are escapes
            found.add(value[1:-1])
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if value:
            found |= {value, unquote(value)}
    return found


def mask(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `fields` with secret values as `***` (a URL keeps all but its password).

    >>> mask({"user": "u", "password": "pw", "url": "mysql://u:pw@h/db", "port": 3306})
    {'user': 'u', 'password': '***', 'url': 'mysql://u:***@h/db', 'port': 3306}
    """
    from runtime.redaction import Redactor

    redactor = Redactor()

    def walk(name: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: walk(str(key), item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(name, item) for item in value]
        if value is None or value == "":
            return value  # nothing to hide, and "empty" is worth seeing
        if is_secret_field(name):
            return MASK
        return redactor.text(value) if isinstance(value, str) else value

    return {key: walk(key, value) for key, value in fields.items()}


# the doctor lives beside the file it checks (runtime/connections/doctor.py)
from runtime.connections.doctor import DoctorResult as DoctorResult  # noqa: E402
from runtime.connections.doctor import doctor as doctor  # noqa: E402
from runtime.connections.doctor import doctor_all as doctor_all  # noqa: E402
