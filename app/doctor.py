"""`wlb doctor`: is every channel configured, reachable and authenticated? One line each, with the fix."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.db import Database
from core.errors import PlatformError, WlbError
from core.http import Http
from core.settings import Settings, token_problem
from platforms.registry import module, platform


@dataclass(frozen=True)
class Finding:
    subject: str
    ok: bool
    message: str


def _storage(settings: Settings) -> list[Finding]:
    found = []
    try:
        db = Database(settings.database)
        db.dispose()
        found.append(Finding("database", True, "opens, schema up to date"))
    except WlbError as exc:
        found.append(Finding("database", False, str(exc)))
    media = Path(settings.media_dir)
    try:
        media.mkdir(parents=True, exist_ok=True)
        writable = os.access(media, os.W_OK)
    except OSError:
        writable = False
    found.append(Finding("media_dir", writable, f"{media} is writable" if writable else
                         f"{media} is not writable; fix its permissions or change media_dir"))
    return found


def _none(channel: object, settings: Settings) -> list[str]:
    return []


def doctor(settings: Settings, http: Http, env: Mapping[str, str] | None = None) -> list[Finding]:
    """Check storage, then each channel: its secret, then reachability and authentication."""
    env = os.environ if env is None else env
    findings = _storage(settings)
    for name, channel in settings.channels.items():
        role = "+".join(r for r, on in (("collect", channel.collect), ("publish", channel.publish)) if on) or "off"
        subject = f"{name} ({channel.kind}, {role})"
        row = platform(channel.kind)
        problem = token_problem(name, channel, env, row)
        if problem:
            findings.append(Finding(subject, False, problem))
            continue
        client = module("platforms", row.client)
        try:
            token = env.get(channel.token_env) if channel.token_env else None
            findings.append(Finding(subject, True, client.probe(token, channel, settings, http)))
        except PlatformError as exc:
            findings.append(Finding(subject, False, str(exc)))
        # A platform may also warn about settings that work but lose posts (Instagram: a 24-hour window).
        findings += [Finding(subject, False, advice) for advice in getattr(client, "advice", _none)(channel, settings)]
    if not any(ch.publish for ch in settings.channels.values()):
        findings.append(Finding("publishing", True, "no channel has publish = true; approved items wait"))
    return findings
