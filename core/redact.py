"""Secrets out of everything wlb writes: one function for text, one logging filter that applies it."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from core.safe_text import strip_control
from core.settings import Settings

MASK = "***"
# Query parameter names that carry secrets, whole or in part (api_key, access_token, oauth_signature, ...).
# Flickr: api_key, auth_token, api_sig; OAuth 1: oauth_token, oauth_signature; Mastodon: access_token;
# Bluesky sends its JWTs in headers, but a "password" or "token" in a query is masked all the same.
_SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|sig|auth(?!or)|session|jwt|credential|code|cookie", re.IGNORECASE)
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#?\s\"'<>]+)=(?P<value>[^&;#\s\"'<>]*)")
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/\s:@]*):(?P<password>[^/\s@]+)@")
_BEARER = re.compile(r"(?P<scheme>\b(?:Bearer|Basic|DPoP)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
SHORTEST_SECRET = 6  # shorter values would mask ordinary words; no real token is this short


def _param(match: re.Match) -> str:
    if not match["value"] or not _SECRET_NAME.search(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with secret query parameters, URL passwords, bearer tokens and the given values masked."""
    if not isinstance(text, str):
        text = str(text)
    for secret in secrets:
        if secret and len(secret) >= SHORTEST_SECRET:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, MASK)
    text = _PARAM.sub(_param, text)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _BEARER.sub(lambda m: f"{m['scheme']}{MASK}", text)


def secrets_of(settings: Settings) -> list[str]:
    """The secret values this configuration uses (what its channels' token_env variables hold, and an X
    channel's client_secret_env)."""
    names = [n for channel in settings.channels.values() for n in (channel.token_env, channel.client_secret_env) if n]
    return [value for name in names if (value := os.environ.get(name))]


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record's message and traceback, and strips control sequences from the message."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record
            message = f"{record.msg} {record.args}"
        # One record stays one line of plain text: remote text in a message (a handle, an error body) must not
        # drive the terminal or the log viewer that shows it.
        record.msg, record.args = strip_control(redact(message, self.secrets)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def install(secrets: Iterable[str] = (), logger: logging.Logger | None = None) -> RedactingFilter:
    """Put one RedactingFilter on every handler of the logger (the root by default): records of every
    library (httpx logs full request URLs at INFO) pass through a handler, not through our loggers."""
    logger = logger or logging.getLogger()
    found = RedactingFilter(secrets)
    for handler in logger.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(found)
    return found


def shown_url(url: object) -> str:
    """A URL as safe to print: without user info, query or fragment, which may carry tokens."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if sep:
        netloc, slash, path = rest.partition("/")
        text = f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"
    return text.split("?", 1)[0].split("#", 1)[0]
