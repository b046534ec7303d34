"""Until each collector's verify() asks its origin, the channel's own answer counts as confirmed in tests.

The publisher refuses items whose origin could not confirm them (issue 8); the groundwork's verify()
only wraps exists(). This is inert for every collector whose verify() was replaced: delete this file
(and its two users: tests/conftest.py, tests/wlb_process.py) once none is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

_COLLECTORS = (("collector.bluesky", "BlueskyCollector"), ("collector.flickr", "FlickrCollector"),
               ("collector.mastodon", "MastodonCollector"), ("collector.rss", "FeedCollector"))


def confirm_transitional_verify(setattr_: Callable) -> None:
    """Patch (with setattr_) each still-transitional verify() to report the channel's answer as confirmed."""
    import importlib

    for module, name in _COLLECTORS:
        cls = getattr(importlib.import_module(module), name, None)
        original = getattr(cls, "verify", None)
        if original and (original.__doc__ or "").startswith("Until the origin is asked directly"):
            setattr_(cls, "verify", lambda self, claim, _o=original: replace(_o(self, claim), verified=True))
