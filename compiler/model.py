"""The typed OML v0.1.0 program (pydantic). The structure pass validates YAML against it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

OML_VERSION = "0.1.0"
#: A function name as `trusted_functions` takes it: a plain name, or schema.name.
_FUNCTION_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

#: Keys of older pipeline formats that OML v0.1.0 refuses, with what to write instead.
FORBIDDEN_TOP_LEVEL: dict[str, str] = {
    "version": "use 'oml_version: \"0.1.0\"'",
    "connectors": "connections live in osiris_connections.yaml; refer to one with '@family.alias'",
    "tasks": "use 'steps'",
    "outputs": "write data with a writer step (e.g. filesystem.csv_writer)",
}

Mode = Literal["read", "write", "transform", "extract"]
ParamType = Literal["string", "integer", "number", "boolean", "date"]

#: Run-time results a `when` condition may read with `${steps.<id>.<result>}`.
STEP_RESULTS = ("rows_read", "rows_written", "status", "duration_ms")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


#: The longest wait between two attempts unless a step sets `max_backoff_ms`: the delay
#: doubles, and 20 attempts of an uncapped 1 s backoff would wait six days.
MAX_BACKOFF_MS = 60_000


class Retry(_Strict):
    max_attempts: int = Field(default=1, ge=1, le=20)
    backoff_ms: int = Field(default=1000, ge=0, le=600_000)
    #: the cap on one wait (the doubling stops there)
    max_backoff_ms: int = Field(default=MAX_BACKOFF_MS, ge=0, le=3_600_000)
    #: no attempt starts later than this many seconds after the first one began
    max_elapsed_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)

    def manifest_form(self) -> dict[str, Any]:
        """What the manifest records: the two caps only when the author set them, so
        plans compiled before they existed keep their bytes and hashes."""
        data = self.model_dump()
        for key in ("max_backoff_ms", "max_elapsed_s"):
            if key not in self.model_fields_set:
                del data[key]
        return data


class Step(_Strict):
    id: str
    component: str
    mode: Mode
    config: dict[str, Any]
    needs: list[str] = Field(default_factory=list)
    inputs: dict[str, str] = Field(default_factory=dict)
    when: str | None = None
    retry: Retry | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    description: str | None = None

    @property
    def canonical_mode(self) -> str:
        """`extract` is the older spelling of `read`."""
        return "read" if self.mode == "extract" else self.mode


class ParamSpec(_Strict):
    type: ParamType = "string"
    default: Any = None
    enum: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    description: str | None = None


class Profile(_Strict):
    params: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None


class Pipeline(_Strict):
    oml_version: Literal["0.1.0"]
    name: str
    steps: list[Step] = Field(min_length=1)
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    #: SQL functions Osiris does not know but the author vouches for: each only computes a
    #: value (no SQL text, settings, files, waits). Listed in the manifest.
    trusted_functions: list[Annotated[str, StringConstraints(pattern=_FUNCTION_NAME)]] = Field(
        default_factory=list
    )

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


_OUTSIDE_FOLDER_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def pipeline_slug(name: str) -> str:
    """The folder a pipeline's builds and run logs go in; its `name` is a free label.

    >>> pipeline_slug("Orders to the warehouse"), pipeline_slug("daily.v2"), pipeline_slug("../x")
    ('Orders_to_the_warehouse', 'daily.v2', '_x')
    """
    return _OUTSIDE_FOLDER_NAME.sub("_", name).strip(".")[:128] or "pipeline"


def oml_json_schema() -> dict[str, Any]:
    """The OML document schema (served to LLM clients by `oml_schema_get`)."""
    schema = Pipeline.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "OML v0.1.0 pipeline"
    return schema
