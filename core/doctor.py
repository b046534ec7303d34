"""`wlb doctor`: is every channel configured, reachable and authenticated? One line each, with the fix."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collector.mastodon_api import MastodonAPI
from core.db import Database
from core.errors import PlatformError, WlbError
from core.http import Http
from core.settings import ChannelSettings, Settings, token_problem


@dataclass(frozen=True)
class Finding:
    subject: str
    ok: bool
    message: str


def _mastodon(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    api = MastodonAPI(http, channel.base_url, token, token_env=channel.token_env)
    instance = api.instance()
    version = instance.get("version") or "?"
    if not token:
        return f"reachable ({instance.get('domain') or api.host}, version {version}); no token, reading public timelines"
    me = api.verify_credentials()
    return f"reachable (version {version}); authenticated as @{me.get('acct') or me.get('username')}"


def _flickr(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    answer = http.get_json(channel.base_url, params={"method": "flickr.test.echo", "api_key": token or "",
                                                    "format": "json", "nojsoncallback": "1"})
    if answer.get("stat") != "ok":
        raise PlatformError(f"Flickr refused the API key in ${channel.token_env} ({answer.get('message')}); "
                            "check the key at flickr.com/services/apps")
    return "reachable; API key accepted"


def _rss(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    response = http.request("GET", channel.feed_url, max_bytes=settings.network.max_media_bytes)
    if response.status_code >= 400:
        raise PlatformError(f"{channel.feed_url} answered {response.status_code}; check feed_url")
    return f"reachable ({len(response.content):,} bytes)"


def _bluesky(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    from collector.bluesky import api_for  # imported on use: the atproto SDK is slow to import

    return f"reachable; logged in as {api_for(channel, settings, http).check()}"


PROBES: dict[str, Callable[[str | None, ChannelSettings, Settings, Http], str]] = {
    "mastodon": _mastodon,
    "pixelfed": _mastodon,
    "flickr": _flickr,
    "rss": _rss,
    "bluesky": _bluesky,
}


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


def doctor(settings: Settings, http: Http, env: dict[str, str] | os._Environ | None = None) -> list[Finding]:
    """Check storage, then each channel: its secret, then reachability and authentication."""
    env = os.environ if env is None else env
    findings = _storage(settings)
    for name, channel in settings.channels.items():
        role = "+".join(r for r, on in (("collect", channel.collect), ("publish", channel.publish)) if on) or "off"
        subject = f"{name} ({channel.kind}, {role})"
        problem = token_problem(name, channel, env)
        if problem:
            findings.append(Finding(subject, False, problem))
            continue
        try:
            token = env.get(channel.token_env) if channel.token_env else None
            findings.append(Finding(subject, True, PROBES[channel.kind](token, channel, settings, http)))
        except PlatformError as exc:
            findings.append(Finding(subject, False, str(exc)))
    if not any(ch.publish for ch in settings.channels.values()):
        findings.append(Finding("publishing", True, "no channel has publish = true; approved items wait"))
    return findings
