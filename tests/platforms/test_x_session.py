"""The X user token kept fresh: the seed refresh token once, then the rotating pair in data/sessions/ (0600)."""

from __future__ import annotations

import json
import stat

import pytest

from core.errors import PlatformError
from core.http import Http
from core.settings import ChannelSettings, NetworkSettings, Settings
from platforms.x import api_for
from tests.fakes.x import CLIENT_ID, OWN_USERNAME, SEED_REFRESH, FakeX


@pytest.fixture
def x():
    with FakeX() as fake:
        yield fake


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make(fake: FakeX, tmp_path, monkeypatch, clock: Clock | None = None, seed: str = SEED_REFRESH):
    monkeypatch.setenv("WLB_X_TOKEN", seed)
    channel = ChannelSettings(kind="x", base_url=fake.base_url, token_env="WLB_X_TOKEN", client_id=CLIENT_ID)
    settings = Settings(path=tmp_path / "config.toml", data_dir=tmp_path / "data")
    api = api_for(channel, settings, Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None))
    if clock:
        api.tokens.clock = clock
    return api


def refreshes(fake: FakeX) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in r.form.items()} for r in fake.requests if r.path == "/2/oauth2/token"]


def test_the_seed_is_exchanged_once_and_the_pair_is_kept_private(x, tmp_path, monkeypatch):
    assert make(x, tmp_path, monkeypatch).me()["username"] == OWN_USERNAME
    assert refreshes(x) == [{"grant_type": "refresh_token", "refresh_token": SEED_REFRESH, "client_id": CLIENT_ID}]
    (path,) = (tmp_path / "data" / "sessions").iterdir()
    assert path.name == f"x-{CLIENT_ID}.json" and stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["access_token"] in x.user_tokens and stored["refresh_token"] in x.refresh_tokens
    me = [r for r in x.requests if r.path == "/2/users/me"][-1]
    assert me.headers["authorization"] == f"Bearer {stored['access_token']}"
    # The next run (a new process) uses the stored token while it lasts: no second exchange.
    make(x, tmp_path, monkeypatch).me()
    assert len(refreshes(x)) == 1


def test_an_expiring_token_is_renewed_with_the_rotated_refresh_token_not_the_spent_seed(x, tmp_path, monkeypatch):
    clock = Clock()
    make(x, tmp_path, monkeypatch, clock).me()
    clock.now += 7200 - 60  # inside the last two minutes
    make(x, tmp_path, monkeypatch, clock).me()
    first, second = refreshes(x)
    assert first["refresh_token"] == SEED_REFRESH and second["refresh_token"] not in (SEED_REFRESH, "")


def test_a_401_renews_the_token_once_and_retries(x, tmp_path, monkeypatch):
    api = make(x, tmp_path, monkeypatch)
    api.me()
    x.expire(api.tokens.access())  # revoked or expired early
    api._me = None
    assert api.me()["username"] == OWN_USERNAME and len(refreshes(x)) == 2


def test_a_spent_refresh_token_is_one_line_saying_to_authorize_again(x, tmp_path, monkeypatch):
    x.refresh_tokens.clear()
    with pytest.raises(PlatformError, match=r"authorize the app again .*\$WLB_X_TOKEN") as caught:
        make(x, tmp_path, monkeypatch).me()
    assert SEED_REFRESH not in str(caught.value)


def test_a_new_seed_is_used_when_the_stored_refresh_token_was_revoked(x, tmp_path, monkeypatch):
    clock = Clock()
    make(x, tmp_path, monkeypatch, clock).me()
    x.refresh_tokens.clear()
    x.refresh_tokens.add("a-new-seed")
    clock.now += 7200
    make(x, tmp_path, monkeypatch, clock, seed="a-new-seed").me()
    assert [r["refresh_token"] for r in refreshes(x)][-1] == "a-new-seed"


def test_the_client_secret_is_masked_like_the_token(tmp_path, monkeypatch):
    from core.redact import redact, secrets_of

    monkeypatch.setenv("WLB_X_TOKEN", "refresh-token-value")
    monkeypatch.setenv("WLB_X_SECRET", "client-secret-value")
    settings = Settings(path=tmp_path / "config.toml", channels={"x": ChannelSettings(
        kind="x", token_env="WLB_X_TOKEN", client_id=CLIENT_ID, client_secret_env="WLB_X_SECRET")})
    assert redact("a client-secret-value and refresh-token-value", secrets_of(settings)).count("client-secret") == 0
