"""The X user token: as given, or kept fresh with its refresh token in the data folder.

An OAuth 2.0 user access token lasts two hours; authorized with `offline.access` it comes with a refresh token,
exchanged at POST /2/oauth2/token (grant_type=refresh_token, client_id; a confidential client authenticates with
HTTP Basic client_id:client_secret) for a new access token and a new refresh token: the old one is then spent
(docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code, RFC 6749 §6). So the pair is kept in
data/sessions/ (0600) and the refresh token in the environment is only the seed of the first run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import PlatformError
from core.http import Http

EARLY = 120  # seconds before expiry a token is renewed, so a request never leaves with a dying one


class StaticToken:
    """A token used as given (an access token or an app-only bearer token): nothing to refresh."""

    can_refresh = False

    def __init__(self, token: str | None):
        self.token = token or ""

    def access(self) -> str:
        return self.token

    def refresh(self) -> str:
        return self.token


class RefreshingToken:
    """An access token renewed with the stored refresh token (the seed from the environment on first use)."""

    can_refresh = True

    def __init__(self, http: Http, token_url: str, client_id: str, seed: str, path: Path, *, env: str,
                 client_secret: str | None = None, clock: Callable[[], float] = time.time):
        self.http, self.token_url, self.client_id, self.seed = http, token_url, client_id, seed
        self.path, self.env, self.secret, self.clock = path, env, client_secret, clock

    def _stored(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("client_id") == self.client_id else {}

    def access(self) -> str:
        stored = self._stored()
        if isinstance(stored.get("access_token"), str) and float(stored.get("expires_at") or 0) > self.clock() + EARLY:
            return stored["access_token"]
        return self.refresh()

    def refresh(self) -> str:
        """A new access token; the stored refresh token first, the environment's seed if X refuses it."""
        stored = self._stored().get("refresh_token")
        tried = []
        for candidate in (stored, self.seed):
            if not isinstance(candidate, str) or not candidate or candidate in tried:
                continue
            tried.append(candidate)
            answer = self._exchange(candidate)
            if answer is not None:
                return answer
        raise PlatformError(f"X refused the refresh token (stored in {self.path.name} and in ${self.env}); authorize "
                            f"the app again with offline.access and put the new refresh token in ${self.env}")

    def _exchange(self, refresh_token: str) -> str | None:
        headers = {"Accept": "application/json"}
        if self.secret:
            pair = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}
        # Not retried: a refresh token is spent by the first answer, lost or not.
        response, body = self.http.request_json("POST", self.token_url, data=form, headers=headers, retry=False)
        if response.status_code in (400, 401):
            return None  # invalid_grant: spent or revoked
        if not response.is_success or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise PlatformError(f"X answered {response.status_code} to the token refresh; try again later")
        expires = body.get("expires_in") if isinstance(body.get("expires_in"), int | float) else 7200
        self._write({"client_id": self.client_id, "access_token": body["access_token"],
                     "refresh_token": body.get("refresh_token") or refresh_token,
                     "expires_at": self.clock() + float(expires)})
        return body["access_token"]

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, self.path)


def session_path(data_dir: Path, client_id: str) -> Path:
    """data/sessions/x-<client id>.json: one per app authorization, shared by the channel's collector and publisher."""
    name = re.sub(r"[^\w.-]", "_", client_id)[:100]
    return Path(data_dir) / "sessions" / f"x-{name}.json"
