"""What a run did, per channel: the closing summary and the --json output."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class ChannelReport:
    channel: str
    fetched: int = 0
    new_posts: int = 0
    known_posts: int = 0
    skipped: Counter = field(default_factory=Counter)
    requests: int = 0
    downloaded: int = 0
    refused: list[str] = field(default_factory=list)
    pending: int = 0
    duplicates: int = 0
    rejected: int = 0
    published: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def channel(self, name: str) -> ChannelReport:
        return self.channels.setdefault(name, ChannelReport(name))

    @property
    def failed(self) -> bool:
        return any(c.errors for c in self.channels.values())

    def to_dict(self) -> dict:
        return {
            "channels": {name: asdict(c) | {"skipped": dict(c.skipped)} for name, c in self.channels.items()},
            "warnings": self.warnings,
            "ok": not self.failed,
        }
