"""Every platform wlb knows, one row each: what it is called in config, what it can do, what it needs.

Adding a platform is platforms/X.py (its client and `probe`), collector/X.py and/or publisher/X.py (each with
a `build(channel, settings, http)`), and one row here. Settings, doctor, credits and the registry tests read
these rows; nothing else lists platforms. Rows name modules instead of importing them, so reading the table
costs nothing: a command imports a platform's client (the atproto SDK is slow to import) only when it uses it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType


@dataclass(frozen=True)
class Platform:
    """One config `kind`."""

    kind: str
    network: str  # whose accounts a credit can mention: a fediverse account is reachable from any fediverse server
    network_name: str  # how a credit names that network in words, on another network
    client: str  # the module under platforms/: its API client and `probe`
    collector: str | None = None  # the module under collector/ that reads it; None: it cannot be collected
    publisher: str | None = None  # the module under publisher/ that writes to it; None: it cannot be published to
    asker: str | None = None  # the module under consent/ that asks photographers by reply; None: ask by hand
    requires: tuple[tuple[str, str], ...] = ()  # (setting, what to write) a channel of this kind must set
    default_base_url: str | None = None  # where it lives when the channel does not say
    secret_to_read: bool = False  # reading a hashtag needs a secret (token, app password or API key)
    launched: datetime = datetime(1995, 1, 1, tzinfo=UTC)  # a post dated earlier is forged or broken

    @property
    def can_collect(self) -> bool:
        return self.collector is not None

    @property
    def can_publish(self) -> bool:
        return self.publisher is not None


# Dates are the platforms' first public releases (rss: the format's early days).
PLATFORMS: dict[str, Platform] = {p.kind: p for p in (
    Platform("mastodon", "fediverse", "the fediverse", client="mastodon", collector="mastodon", publisher="mastodon",
             asker="mastodon", requires=(("base_url", "the instance's address, e.g. https://mastodon.social"),),
             launched=datetime(2016, 3, 16, tzinfo=UTC)),
    # Pixelfed speaks the Mastodon API but pages a hashtag differently (collector/pixelfed.py) and needs a token.
    Platform("pixelfed", "fediverse", "the fediverse", client="pixelfed", collector="pixelfed", publisher="mastodon",
             asker="mastodon", requires=(("base_url", "the instance's address, e.g. https://pixelfed.social"),),
             secret_to_read=True, launched=datetime(2018, 6, 1, tzinfo=UTC)),
    Platform("bluesky", "bluesky", "Bluesky", client="bluesky", collector="bluesky", publisher="bluesky",
             asker="bluesky", requires=(("handle", 'the account\'s handle, e.g. handle = "welovebrussels.bsky.social"'),),
             default_base_url="https://bsky.social", secret_to_read=True, launched=datetime(2023, 2, 17, tzinfo=UTC)),
    Platform("flickr", "flickr", "Flickr", client="flickr", collector="flickr",
             default_base_url="https://api.flickr.com/services/rest", secret_to_read=True,
             launched=datetime(2004, 2, 10, tzinfo=UTC)),
    # Instagram's hashtag search never names the author: those items wait for a reviewer's credit (collector/instagram.py).
    Platform("instagram", "instagram", "Instagram", client="instagram", collector="instagram", publisher="instagram",
             requires=(("ig_user_id", 'the professional account\'s id, e.g. ig_user_id = "17841400000000000"'),),
             default_base_url="https://graph.facebook.com/v27.0", secret_to_read=True,
             launched=datetime(2010, 10, 6, tzinfo=UTC)),
    # X bills every post a search returns: the collector stops at the channel's monthly_budget.
    Platform("x", "x", "X", client="x", collector="x", publisher="x", default_base_url="https://api.x.com",
             secret_to_read=True, launched=datetime(2006, 3, 21, tzinfo=UTC)),
    # Publish only: the Graph API has no search of public Page posts (platforms/facebook.py).
    Platform("facebook", "facebook", "Facebook", client="facebook", publisher="facebook",
             requires=(("page_id", 'the Page\'s numeric id, e.g. page_id = "104512345678901"'),),
             default_base_url="https://graph.facebook.com/v27.0", launched=datetime(2004, 2, 4, tzinfo=UTC)),
    Platform("rss", "web", "the web", client="rss", collector="rss",
             requires=(("feed_url", "the address of the feed"),)),
)}

NETWORK_NAMES: dict[str, str] = {p.network: p.network_name for p in PLATFORMS.values()}


def platform(kind: str) -> Platform:
    """The row for a kind settings accepted (settings refuse every other kind)."""
    return PLATFORMS[kind]


def module(package: str, name: str) -> ModuleType:
    """platforms.X, collector.X, publisher.X or consent.X, imported on first use."""
    return importlib.import_module(f"{package}.{name}")
