"""`wlb doctor` on an instagram channel: the probe against the fake Graph API, and the 24-hour schedule warning."""

from __future__ import annotations

import pytest

from app.doctor import doctor
from core.http import Http
from core.settings import ChannelSettings, NetworkSettings, ScheduleSettings, Settings
from tests.fakes.instagram import IG_USER_ID, TOKEN, FakeInstagram, StaticFolder


@pytest.fixture
def ig():
    with FakeInstagram() as fake:
        yield fake


def findings(ig, tmp_path, every: int, origins=(), **publish):
    channel = ChannelSettings(kind="instagram", base_url=ig.graph_url, ig_user_id=IG_USER_ID, token_env="WLB_IG",
                              **publish)
    settings = Settings(path=tmp_path / "config.toml", database=f"sqlite:///{tmp_path}/wlb.db",
                        network=NetworkSettings(allow_private=[ig.origin, *origins]),
                        schedule=ScheduleSettings(collect_every_minutes=every), channels={"ig": channel})
    return [f for f in doctor(settings, Http(settings.network), env={"WLB_IG": TOKEN}) if f.subject.startswith("ig")]


@pytest.mark.parametrize("every", [60, 360])
def test_doctor_probes_the_account_and_the_hashtag_budget(ig, tmp_path, every):
    (found,) = findings(ig, tmp_path, every)
    assert found.ok and found.message == "authenticated as @welovebrussels; 0 of 30 hashtag searches used this week"
    assert ig.calls(f"/{IG_USER_ID}")[0].query == {"fields": ["id,username"]}


@pytest.mark.parametrize("every", [0, 361, 1440])
def test_doctor_warns_when_collection_is_rarer_than_every_six_hours(ig, tmp_path, every):
    probe, warning = findings(ig, tmp_path, every)
    assert probe.ok and not warning.ok
    assert "only returns the last 24 hours" in warning.message and "360 or less" in warning.message


def test_doctor_checks_the_quota_and_that_the_public_folder_is_served(ig, tmp_path):
    with StaticFolder(tmp_path / "public") as web:
        (found,) = findings(ig, tmp_path, 60, [web.origin], publish=True, public_media_dir=web.folder,
                            public_media_base_url=web.base_url)
        assert found.ok and "0 of 50 posts used in the last 24 h" in found.message
        assert found.message.endswith(f"public storage {web.folder} served at {web.base_url}: writable and reachable")
        assert list(web.folder.iterdir()) == []
        (wrong,) = findings(ig, tmp_path, 60, [web.origin], publish=True, public_media_dir=tmp_path / "elsewhere",
                            public_media_base_url=web.base_url)
        assert not wrong.ok and "writable but not reachable" in wrong.message and "404" in wrong.message
