"""JSON over HTTP for the API extractors (graphql, posthog): one client, retries, errors.

Every failure becomes a `DriverError` whose message names the endpoint (without its query
string), the HTTP status and a short excerpt of the answer — with every secret the step
holds (tokens, keys, passwords) masked, since an API may echo a credential back.
Server errors (5xx), 429 and dropped connections are retried with exponential backoff;
a 401/403 is an `auth` error at once: trying a wrong token again cannot help.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from components.common.secrets import mask
from components.protocol import DriverError

#: Shown of an error answer: enough to see what the server said, not a whole page.
EXCERPT = 300
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def public_url(url: str) -> str:
    """The URL without credentials or query string (either may hold a secret).

    >>> public_url("https://user:pw@api.example.com/graphql?token=abc")
    'https://api.example.com/graphql'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class JsonClient(AbstractContextManager["JsonClient"]):
    """POSTs and GETs JSON with retries; `secrets` are masked in every error it raises."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        secrets: Iterable[str],
        timeout_s: float,
        max_retries: int,
        retry_delay_s: float,
        verify: bool = True,
        cancelled: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.secrets = tuple(s for s in secrets if s)
        self.max_retries = max_retries
        self.retry_delay_s = retry_delay_s
        self.cancelled = cancelled
        self.sleep = sleep
        self.requests = 0
        self._client = httpx.Client(
            headers=dict(headers), timeout=timeout_s, verify=verify, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, url: str, body: Any) -> Any:
        return self._request("POST", url, body)

    def get(self, url: str) -> Any:
        return self._request("GET", url, None)

    def _request(self, method: str, url: str, body: Any) -> Any:
        where = public_url(url)
        delay = self.retry_delay_s
        attempt = 0
        while True:
            if self.cancelled():
                raise DriverError("cancelled", category="cancelled")
            attempt += 1
            self.requests += 1
            try:
                response = self._client.request(method, url, json=body)
            except httpx.TimeoutException:
                failure = DriverError(
                    f"{where} did not answer in time",
                    category="timeout",
                    retryable=True,
                    hint="raise `timeout`, or check that the server is reachable",
                )
            except httpx.HTTPError as err:
                failure = DriverError(
                    f"cannot reach {where}: {self._clean(type(err).__name__ + ': ' + str(err))}",
                    category="network",
                    retryable=True,
                    hint="check the endpoint URL in the connection and the network",
                )
            else:
                if response.status_code < 300:
                    return self._json(response, where)
                failure = self._status_error(response, where)
            if not failure.retryable or attempt > self.max_retries:
                raise failure
            self.sleep(delay)
            delay *= 2

    def _json(self, response: Any, where: str) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DriverError(
                f"{where} answered {response.status_code} with something that is not JSON: "
                f"{self._excerpt(response)}",
                category="data",
                hint="check that the endpoint is the API's URL, not a web page",
            ) from None

    def _status_error(self, response: Any, where: str) -> DriverError:
        status = response.status_code
        said = self._excerpt(response)
        if status in (401, 403):
            return DriverError(
                f"{where} refused the credentials (HTTP {status}): {said}",
                category="auth",
                hint="check the token or key in osiris_connections.yaml (and the environment "
                "variable it names), and that it may read this data",
            )
        if status == 404:
            return DriverError(
                f"{where} does not exist (HTTP 404): {said}",
                category="config",
                hint="check the endpoint URL (and the project id) in the connection",
            )
        return DriverError(
            f"{where} answered HTTP {status}: {said}",
            category="network" if status in RETRYABLE_STATUS else "data",
            retryable=status in RETRYABLE_STATUS,
            hint="the server failed; try again later" if status >= 500 else None,
        )

    def _excerpt(self, response: Any) -> str:
        text = " ".join(response.text.split())
        text = text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")
        return self._clean(text) or "(empty answer)"

    def _clean(self, text: str) -> str:
        return mask(text, self.secrets)
