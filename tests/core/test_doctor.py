"""`wlb doctor`: one line per channel, saying what is fine or what to fix."""

from __future__ import annotations

import pytest

from app.doctor import doctor
from core.http import Http
from core.settings import Settings
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import FakeServer, Recorded, Reply

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>"""


class Feed(FakeServer):
    def dispatch(self, request: Recorded) -> Reply:
        return Reply(200, FEED, content_type="application/rss+xml") if request.path == "/feed" else Reply(404, {})


@pytest.fixture
def fakes():
    with FakeMastodon(domain="fake.social", token="good") as mastodon, Feed() as feed:
        yield mastodon, feed


def settings(tmp_path, db_url, mastodon, feed) -> Settings:
    return Settings(database=db_url, media_dir=tmp_path / "media", path=tmp_path / "config.toml",
                    network={"allow_private": [mastodon.origin, feed.origin], "retries": 0},
                    channels={
                        "home": {"kind": "mastodon", "base_url": mastodon.base_url, "publish": True, "token_env": "T_HOME"},
                        "public": {"kind": "mastodon", "base_url": mastodon.base_url, "token_env": "T_PUBLIC"},
                        "nokey": {"kind": "pixelfed", "base_url": mastodon.base_url, "token_env": "T_MISSING"},
                        "blog": {"kind": "rss", "feed_url": f"{feed.base_url}/feed"},
                        "gone": {"kind": "rss", "feed_url": f"{feed.base_url}/missing"},
                    })


def test_one_line_per_channel_with_the_fix(tmp_path, db_url, fakes):
    mastodon, feed = fakes
    s = settings(tmp_path, db_url, mastodon, feed)
    findings = {f.subject.split(" ")[0]: f for f in doctor(s, Http(s.network), env={"T_HOME": "good", "T_PUBLIC": "bad"})}
    assert findings["database"].ok and findings["media_dir"].ok
    assert findings["home"].ok and "authenticated as @welovebrussels" in findings["home"].message
    assert not findings["nokey"].ok and "$T_MISSING is not set" in findings["nokey"].message
    assert findings["blog"].ok
    assert not findings["gone"].ok and "404" in findings["gone"].message
    assert not findings["public"].ok and "$T_PUBLIC" in findings["public"].message
    sent = [r for r in mastodon.requests if r.path == "/api/v1/accounts/verify_credentials"]
    assert {r.headers["authorization"] for r in sent} == {"Bearer good", "Bearer bad"}



def test_cli_doctor_exit_code_reflects_problems(site, monkeypatch):
    assert site.wlb("doctor").code == 0
    monkeypatch.delenv("WLB_PUB_TOKEN")
    result = site.wlb("doctor")
    assert result.code == 1
    assert "$WLB_PUB_TOKEN is not set" in result.out


def test_bluesky_and_flickr_are_checked_with_a_login_and_a_key(tmp_path, db_url, monkeypatch):
    from tests.fakes.bluesky import FakeBluesky
    from tests.fakes.flickr import API_KEY, FakeFlickr

    def check(folder: str, password: str, key: str) -> dict:
        monkeypatch.setenv("B", password)
        monkeypatch.setenv("F", key)
        s = Settings(database=db_url, data_dir=tmp_path / folder, path=tmp_path / "config.toml",
                     network={"allow_private": [bsky.origin, flickr.origin], "retries": 0},
                     channels={"sky": {"kind": "bluesky", "handle": bsky.handle, "base_url": bsky.base_url, "token_env": "B"},
                               "photos": {"kind": "flickr", "base_url": flickr.rest_url, "token_env": "F"}})
        return {f.subject.split(" ")[0]: f for f in doctor(s, Http(s.network))}

    with FakeBluesky(password="right-pass") as bsky, FakeFlickr() as flickr:
        good = check("a", "right-pass", API_KEY)
        bad = check("b", "wrong-pass", "wrong-key")  # another data folder: no saved session to fall back on
    assert good["sky"].ok and bsky.handle in good["sky"].message
    assert good["photos"].ok and "API key accepted" in good["photos"].message
    assert not bad["photos"].ok and "$F" in bad["photos"].message
    assert not bad["sky"].ok and "$B" in bad["sky"].message
    assert "wrong-pass" not in bad["sky"].message
