"""What a run did, per channel: the closing summary and the --json output."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from core.redact import redact


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
    warnings: list[str] = field(default_factory=list)  # e.g. the page cap reached: the rest waits for a later run
    cost: float = 0.0  # estimated USD this run's reads cost on a platform that bills them (X)


@dataclass
class ConsentReport:
    """The consent stage's run (consent/run.py): requests sent, answers read, what waits."""

    sent: int = 0
    found_sent: int = 0  # made by an interrupted earlier run, found on the platform instead of sent again
    throttled: int = 0  # left for a later run by [consent] per_hour
    failed: int = 0  # could not be sent: the post is gone, replies are closed
    granted: int = 0
    refused: int = 0
    unclear: int = 0  # the photographer answered neither yes nor no: a person reads it
    not_author: int = 0  # replies by someone else than the photographer, not counted
    expired: int = 0
    errors: list[str] = field(default_factory=list)  # one line per request that went wrong this run


@dataclass
class RunReport:
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    consent: ConsentReport = field(default_factory=ConsentReport)

    def channel(self, name: str) -> ChannelReport:
        return self.channels.setdefault(name, ChannelReport(name))

    @property
    def failed(self) -> bool:
        return any(c.errors for c in self.channels.values())

    def all_warnings(self) -> list[str]:
        """The run's warnings, then each channel's, named after its channel."""
        return [*self.warnings, *(f"{c.channel}: {w}" for c in self.channels.values() for w in c.warnings),
                *(f"consent: {e}" for e in self.consent.errors)]

    def to_dict(self) -> dict:
        """The --json form; every message passes through redact (a secret must not reach a script's log)."""
        def clean(messages: list[str]) -> list[str]:
            return [redact(m) for m in messages]

        return {
            "channels": {name: asdict(c) | {"skipped": dict(c.skipped), "errors": clean(c.errors),
                                            "refused": clean(c.refused), "warnings": clean(c.warnings)}
                         for name, c in self.channels.items()},
            "warnings": clean(self.all_warnings()),
            "consent": asdict(self.consent) | {"errors": clean(self.consent.errors)},
            "ok": not self.failed,
        }


class Progress:
    """Progress of long work, reported by stage; the app's subclass draws rich progress bars, this one nothing."""

    def stage(self, name: str, total: int | None) -> None:
        """A stage starts, with how many steps it will take when known."""

    def advance(self, name: str, n: int = 1) -> None:
        """`n` more steps of a stage are done."""
