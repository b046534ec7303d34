"""A wlb installation in a temporary folder, wired to fake instances on 127.0.0.1, driven through cli.main."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cli
from core.db import Database
from core.models import Post
from tests.fakes.mastodon import FakeMastodon

PUBLISH_TOKEN = "pub-token-123"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@dataclass
class Site:
    root: Path
    source: FakeMastodon
    community: FakeMastodon
    capsys: pytest.CaptureFixture
    db_url: str
    extra: str = ""
    channels: str = field(default="")

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    def write_config(self, extra: str = "", channels: str | None = None, origins: list[str] = ()) -> None:
        """config.toml trusting the fakes' origins; `channels` replaces the default source → community pair."""
        channels = channels if channels is not None else f"""
[channels.source]
kind = "mastodon"
base_url = "{self.source.base_url}"

{self.community_channel()}"""
        trusted = ", ".join(f'"{o}"' for o in (*origins, self.source.origin, self.community.origin))
        self.config.write_text(f"""
database = "{self.db_url}"
media_dir = "data/media"
[network]
allow_private = [{trusted}]
retries = 2
timeout = 5.0
[rules]
min_width = 600
min_height = 600
{extra}
{channels}
""", encoding="utf-8")

    def community_channel(self) -> str:
        """Our own Mastodon account, publishing only."""
        return f"""[channels.community]
kind = "mastodon"
base_url = "{self.community.base_url}"
collect = false
publish = true
token_env = "WLB_PUB_TOKEN"
"""

    def wlb(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = cli.main(["--config", str(self.config), *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def set_post(self, item: int, **values) -> None:
        """Change stored fields of one item directly, as a state the CLI could not produce on its own."""
        db = Database(self.db_url)
        with db.session() as session:
            post = session.get(Post, item)
            for name, value in values.items():
                setattr(post, name, value)
            session.add(post)
            session.commit()
        db.dispose()

    def queue(self, status: str = "all") -> list[dict]:
        result = self.wlb("queue", "--status", status, "--json", "--all")
        assert result.code == 0, result.err
        return result.json()
