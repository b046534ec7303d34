"""A deployment's archive as the review commands see it: settings, database and media folder, nothing remote."""

from __future__ import annotations

from core.db import Database
from core.media import MediaStore
from core.settings import Settings


class Workspace:
    """What `wlb queue`, `show`, `approve` and `reject` need, and no more: they start fast."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.database)
        self.store = MediaStore(settings.media_dir)

    def publish_channels(self) -> list[str]:
        """Every channel with publish = true, in config order."""
        return self.settings.publishing_channels()

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
