"""config.toml: the default loads, bad input is one line naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.init import TEMPLATE, write_config
from app.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_default_config_loads_with_paths_relative_to_the_file():
    settings = load_settings(ROOT / "config.toml", env={})
    assert settings.hashtags == ["welovebrussels"]
    assert settings.timezone == "Europe/Brussels"
    assert settings.database == f"sqlite:///{ROOT / 'data' / 'wlb.db'}"
    assert settings.media_dir == ROOT / "data" / "media"
    assert all(not ch.publish for ch in settings.channels.values()), "publishing is off until a token is configured"
    assert {ch.kind for ch in settings.channels.values()} == {"mastodon"}


def test_init_template_is_the_repository_config():
    assert TEMPLATE.read_text(encoding="utf-8") == (ROOT / "config.toml").read_text(encoding="utf-8")


def test_init_writes_config_and_data_and_never_overwrites(tmp_path):
    target = write_config(tmp_path / "site")
    assert target.exists() and (tmp_path / "site" / "data").is_dir()
    target.write_text("# mine\n")
    with pytest.raises(Exception, match="already exists"):
        write_config(tmp_path / "site")
    assert target.read_text() == "# mine\n"


@pytest.mark.parametrize(("text", "expected"), [
    ('hashtag = ["x"]', "unknown key 'hashtag'"),
    ('[network]\ntimeout = "slow"', "'network.timeout'"),
    ('[channels.a]\nkind = "myspace"\nbase_url = "https://x.example"', "unknown kind 'myspace'"),
    ('[channels.a]\nkind = "mastodon"\nbase_url = "x.example"', "with its scheme"),
    ('timezone = "Europe/Bruxelles"', "unknown time zone"),
    ('hashtags = [', "not valid TOML"),
    ('[publish]\ntemplate = "{caption}"', "must contain {credit}"),
    ('[channels.a]\nkind = "mastodon"\nbase_url = "https://x.example"\npublish = true', "'channels.a.token_env' is missing"),
    ('[channels.a]\nkind = "pixelfed"\nbase_url = "https://x.example"\ntoken_env = "WLB_PF"', "$WLB_PF is not set"),
    ('[network]\nallow_private = ["127.0.0.1"]', "not an origin"),
])
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert expected in message
    assert str(path) in message and "\n" not in message
    assert info.value.exit_code == 2


def test_token_comes_from_the_named_environment_variable(tmp_path, monkeypatch):
    path = write(tmp_path, '[channels.a]\nkind = "pixelfed"\nbase_url = "https://pix.example/"\ntoken_env = "WLB_PF"')
    monkeypatch.setenv("WLB_PF", "s3cret")
    settings = load_settings(path)
    assert settings.channels["a"].token() == "s3cret"
    assert settings.channels["a"].base_url == "https://pix.example"
    assert "s3cret" not in repr(settings)


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="wlb init"):
        load_settings(tmp_path / "nope.toml")
