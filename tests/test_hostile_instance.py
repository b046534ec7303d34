"""A hostile instance among the channels, driven through cli.main: what is stored, printed and published (issue 8).

The instance is tests/fakes/hostile.py; the well-behaved channel `source` and our `community` account are the
plain fakes of tests/site.py. Terminal attacks are in tests/test_hostile_terminal.py.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from tests.fakes import images
from tests.fakes.hostile import HostileMastodon, gzip_bomb
from tests.fakes.mastodon import FakeMastodon
from tests.site import Site

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
REAL = images.jpeg(21, size=(900, 900))  # Alice's photo, at her home instance
FORGED = images.jpeg(22, size=(1000, 700))  # the attacker's, served as hers
CONTROL = images.jpeg(23, size=(700, 700))  # the well-behaved channel's post
SMALL = images.jpeg(24, size=(300, 200))  # under rules.min_width
TIMELINE = "/api/v1/timelines/tag/welovebrussels"


@pytest.fixture
def evil(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileMastodon]:
    """The hostile instance; retries do not wait (the pipeline's Http sleeps through time.sleep)."""
    monkeypatch.setattr("app.pipeline.time.sleep", lambda seconds: None)
    with HostileMastodon() as fake:
        yield fake


def configure(site: Site, *channels: tuple[str, object], network: str = "", extra: str = "",
              trusted: list = ()) -> None:
    """Mastodon channels collected in this order, our community account, [network] lines; `trusted`: origins only."""
    blocks = "".join(f'\n[channels.{name}]\nkind = "mastodon"\nbase_url = "{fake.base_url}"\n'
                     for name, fake in channels)
    site.write_config(extra=extra, channels=blocks + "\n" + site.community_channel(),
                      origins=[fake.origin for _, fake in channels] + [fake.origin for fake in trusted])
    if network:
        site.config.write_text(site.config.read_text().replace("[network]\n", f"[network]\n{network}\n", 1))


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and 'File "' not in text, text


# ---- forged identities --------------------------------------------------------------------------------------


@pytest.mark.parametrize("earlier", [None, "pending", "rejected"], ids=["same-run", "in-review", "auto-rejected"])
def test_a_forged_copy_collected_first_does_not_hide_the_real_post_or_take_its_credit(site, evil, earlier):
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[REAL], acct="alice", display_name="Alice", created_at=T0, text="Atomium")
        # A photo under rules.min_width is rejected by wlb itself: that must not settle the key either.
        forged = evil.add_forged(domain=home.domain, uri=real["uri"],
                                 image=SMALL if earlier == "rejected" else FORGED)
        forged["account"]["display_name"] = "Alice (log in at phish.example)"
        if earlier:  # the forged copy was collected and curated by an earlier run
            configure(site, ("evil", evil), trusted=[home])
            assert site.wlb("collect").code == 0 and [i["status"] for i in site.queue("all")] == [earlier]
        configure(site, ("evil", evil), ("home", home))  # the hostile channel is collected first

        collected = site.wlb("collect", "--json")
        assert collected.code == 0, collected.err
        report = collected.json()["channels"]["home"]
        assert report["new_posts"] == 1 and "the origin's copy replaces it" in report["warnings"][0]
        (item,) = site.queue("all")
        history = site.wlb("show", str(item["id"]), "--json").json()["history"]
        assert item["status"] == "pending" and "origin-copy" in [h["action"] for h in history]
        assert item["channel"] == "home" and item["post_url"] == real["url"]
        assert item["author"] == {"handle": f"alice@{home.domain}", "name": "Alice",
                                  "profile_url": real["account"]["url"]}
        assert datetime.fromisoformat(item["created_at"]) == T0
        assert [m["url"] for m in item["media"]] == [real["media_attachments"][0]["url"]]
        assert (item["media"][0]["width"], item["media"][0]["height"]) == (900, 900)
        assert "phish.example" not in site.wlb("show", str(item["id"]), "--json").out

        assert site.wlb("approve", str(item["id"])).code == 0
        published = site.wlb("publish", "--json")
        assert published.code == 0, published.err
        (upload,) = site.community.uploads
        assert size_of(upload["data"]) == (900, 900), "Alice's photo, not the attacker's"
        (status,) = [r.form["status"][0] for r in site.community.requests if r.path == "/api/v1/statuses"]
        assert real["url"] in status and f"@alice@{home.domain}" in status and "phish" not in status


def test_a_forged_copy_alone_is_stored_bounded_and_refused_at_publish(site, evil):
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[REAL], acct="alice", created_at=T0)
        evil.add_forged(domain=home.domain, uri=real["uri"], image=FORGED)
        configure(site, ("evil", evil), ("source", site.source), trusted=[home])  # reachable as Alice's origin

        collected = site.wlb("collect", "--json")
        assert collected.code == 0, collected.err
        (item,) = site.queue("all")
        assert item["post_url"] == real["uri"], "the phishing link never reaches the stored item"
        shown = site.wlb("show", str(item["id"]), "--json")
        assert "phish.example" not in shown.out
        assert datetime.fromisoformat(item["created_at"]) > datetime.now(UTC) - timedelta(hours=1), "2001 is clamped"
        assert any("2001-01-01, before mastodon existed" in r for r in item["reasons"])
        assert any("link not on the author's instance" in r for r in item["reasons"])

        assert site.wlb("approve", str(item["id"])).code == 0
        published = site.wlb("publish", "--json")
        no_traceback(published.out, published.err)
        assert site.community.published == [] and site.community.uploads == [], "never reposted credited to Alice"
        assert any("origin disagrees" in w and "not the one we stored" in w for w in published.json()["warnings"])
        (back,) = site.queue("all")
        assert back["status"] == "pending"
        assert [r.path for r in home.requests if r.path.startswith("/api/v1/statuses/")] == \
            [f"/api/v1/statuses/{real['id']}"], "the origin was asked about Alice's post"


def test_a_copy_already_decided_on_is_not_replaced_and_its_origin_still_refuses_it(site, evil):
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[REAL], acct="alice", created_at=T0)
        evil.add_forged(domain=home.domain, uri=real["uri"], image=FORGED)
        configure(site, ("evil", evil), trusted=[home])
        assert site.wlb("collect").code == 0
        (item,) = site.queue("all")
        assert site.wlb("approve", str(item["id"])).code == 0  # a reviewer approved the forged copy

        configure(site, ("evil", evil), ("home", home))
        collected = site.wlb("collect", "--json")
        assert collected.code == 0 and collected.json()["channels"]["home"]["known_posts"] == 1
        (kept,) = site.queue("all")
        assert (kept["channel"], kept["status"]) == ("evil", "approved"), "a decision is never changed under a reviewer"

        published = site.wlb("publish", "--json")
        assert any("origin disagrees" in w for w in published.json()["warnings"])
        assert site.community.published == [] and site.community.uploads == []


def test_another_instance_cannot_rename_an_author_or_date_a_copy_first(site, evil):
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[REAL], acct="alice", display_name="Alice", created_at=T0)
        evil.add_forged(domain=home.domain, uri=real["uri"], image=FORGED, display_name="Mallory")
        other = evil.add_forged(domain=home.domain, image=FORGED)  # a post Alice never made, in her name
        other["account"]["display_name"] = "Alice (log in at phish.example)"
        configure(site, ("home", home), ("evil", evil))  # the origin first: the forged copy is already known

        collected = site.wlb("collect", "--json")
        assert collected.code == 0, collected.err
        assert collected.json()["channels"]["evil"]["known_posts"] == 1
        items = {i["post_url"]: i for i in site.queue("all")}
        assert items[real["url"]]["channel"] == "home"
        assert datetime.fromisoformat(items[real["url"]]["created_at"]) == T0
        assert {i["author"]["name"] for i in items.values()} == {"Alice"}, "the author row keeps its origin's name"
        assert "phish.example" not in site.wlb("queue", "--status", "all", "--json").out


# ---- one bad record costs one record --------------------------------------------------------------------------


def test_wrong_json_types_cost_their_records_and_the_rest_goes_on(site, evil):
    bad = evil.add_wrong_types()
    good = evil.add_status(username="bob", display_name="Bob", text="Atomium", created_at=T0)
    site.source.add_status(images=[CONTROL], created_at=T0)
    configure(site, ("evil", evil), ("source", site.source))

    run = site.wlb("run", "--json")
    assert run.code == 0, run.err
    summary = run.json()["channels"]
    assert summary["evil"]["errors"] == [] and summary["source"]["errors"] == []
    assert summary["evil"]["skipped"] == {"malformed: uri missing": 1}, "the uri object costs its record"
    assert summary["evil"]["new_posts"] == 4 and summary["source"]["new_posts"] == 1
    stored = {i["post_url"]: i for i in site.queue("all")}
    assert bad["uri"]["url"] not in stored and good["url"] in stored
    # Decoration of the wrong type is dropped, the record kept (STYLE.md: lenient on what decorates).
    assert "content" not in stored[bad["content"]["url"]]["text"]
    assert stored[bad["description"]["url"]]["media"][0]["alt_text"] is None
    assert stored[bad["meta"]["url"]]["media"][0]["width"] == 1080, "measured from the bytes"
    assert summary["source"]["pending"] == 1, "curate ran"

    control = next(i for i in stored.values() if i["channel"] == "source")
    assert site.wlb("approve", str(control["id"])).code == 0
    again = site.wlb("run", "--json")
    assert again.code == 0, again.err
    assert again.json()["channels"]["community"]["published"] == 1 and len(site.community.published) == 1


# ---- bounded work per request ---------------------------------------------------------------------------------

LIMIT = 300_000  # network.max_api_bytes in these tests; the deep body (200,000 bytes) fits under it


@pytest.mark.parametrize("mode, options", [
    ("deep", {}),
    ("huge", {"huge_bytes": 3 * LIMIT}),
    ("huge", {"huge_bytes": 3 * LIMIT, "declare_length": False}),
    ("gzip_bomb", {"bomb_bytes": 256 << 20}),
], ids=["nested-100000-deep", "huge", "huge-without-length", "gzip-bomb-256MiB"])
def test_an_unreadable_answer_fails_its_channel_in_one_line(site, evil, mode, options):
    if mode == "gzip_bomb":
        assert len(gzip_bomb(options["bomb_bytes"])) < LIMIT, "under the limit on the wire: decompression is counted"
    evil.add_status(created_at=T0)
    for name, value in options.items():
        setattr(evil, name, value)
    evil.mode = mode
    site.source.add_status(images=[CONTROL], created_at=T0)
    configure(site, ("evil", evil), ("source", site.source), network=f"max_api_bytes = {LIMIT}")

    tracemalloc.start()
    try:
        collected = site.wlb("collect")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert collected.code == 1, "a failed channel is a partial failure"
    no_traceback(collected.out, collected.err)
    lines = [line for line in (collected.out + collected.err).splitlines() if TIMELINE in line]
    assert len(lines) == 1, lines
    expected = {"deep": "nested too deeply", "huge": f"larger than {LIMIT} bytes",
                "gzip_bomb": f"larger than {LIMIT} bytes"}[mode]
    assert expected in lines[0]
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB traced for a {mode} answer"

    stored = site.queue("all")
    assert [i["channel"] for i in stored] == ["source"], "the other channel collected"
    assert [r.path for r in evil.requests].count(TIMELINE) == 1, "a bad answer is not worth a retry"
    assert site.community.published == [] and site.community.uploads == []


def test_a_slow_drip_stops_at_the_deadline_and_releases_the_run_lock(site, evil):
    evil.add_status(created_at=T0)
    evil.mode, evil.drip_interval = "drip", 0.02  # a body of a few kB, one byte every 20 ms: a minute or more
    site.source.add_status(images=[CONTROL], created_at=T0)
    configure(site, ("evil", evil), ("source", site.source), network="request_deadline = 0.5")

    collected = site.wlb("collect", "--json")
    assert collected.code == 1
    no_traceback(collected.out, collected.err)
    (error,) = collected.json()["channels"]["evil"]["errors"]
    assert "did not finish answering within 0.5 s" in error and "\n" not in error
    assert len(evil.dripped) < 100, "the request ended at its deadline, not with the body"
    assert collected.json()["channels"]["source"]["new_posts"] == 1

    evil.mode = "normal"
    again = site.wlb("collect", "--json")  # the lock of the first run is gone
    assert again.code == 0, again.err
    assert again.json()["channels"]["evil"]["new_posts"] == 1


# ---- bounded work per run -------------------------------------------------------------------------------------


def test_endless_newer_pages_stop_at_the_page_cap_and_the_next_run_continues(site, evil):
    evil.add_status(created_at=T0)
    evil.mode = "endless"
    configure(site, ("evil", evil), extra="[collect]\npage_size = 3\nbackfill_pages = 1\nmax_pages_per_run = 2")

    def timeline_requests() -> list:
        return [r for r in evil.requests if r.path == TIMELINE]

    first = site.wlb("collect", "--json")
    assert first.code == 0, first.err
    assert first.json()["channels"]["evil"]["new_posts"] == 3  # the newest page; no backfill asked for

    second = site.wlb("collect", "--json")
    assert second.code == 0, second.err
    report = second.json()["channels"]["evil"]
    assert report["new_posts"] == 6 and report["errors"] == []
    assert report["warnings"] == ["#welovebrussels: stopped after 2 pages (collect.max_pages_per_run); "
                                  "the rest is collected on the next run"]
    assert "stopped after 2 pages" in "\n".join(second.json()["warnings"])
    newest = max(int(s["id"]) for s in evil.statuses[:10])  # what the second run stored: 1 + 3 + 6 statuses

    asked = len(timeline_requests())
    third = site.wlb("collect", "--json")
    assert third.code == 0 and third.json()["channels"]["evil"]["new_posts"] == 6
    assert timeline_requests()[asked].query["min_id"] == [str(newest)], "the next run continues where it stopped"
    assert len(site.queue("all")) == 15
    assert site.community.published == []

# ---- found by an adversarial read: the origin must vouch for every image ---------------------------------------

def test_forged_image_on_alices_text_only_post_is_not_published_in_her_name(site, evil):
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[], acct="alice", created_at=T0, text="Lovely evening")
        evil.add_forged(domain=home.domain, uri=real["uri"], image=FORGED)
        configure(site, ("evil", evil), ("source", site.source), trusted=[home])
        assert site.wlb("collect").code == 0
        (item,) = site.queue("all")
        assert site.wlb("approve", str(item["id"])).code == 0
        site.wlb("publish", "--json")
        assert [r.path for r in home.requests if r.path.startswith("/api/v1/statuses/")], "origin asked"
        assert site.community.uploads == [], "the attacker's image went out credited to Alice"
        (held,) = site.queue("pending")
        assert any("has no image" in r for r in held["reasons"])

def test_forged_second_image_is_not_published_in_alices_name(site, evil):
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[REAL], acct="alice", created_at=T0)
        forged = evil.add_forged(domain=home.domain, uri=real["uri"], image=REAL)  # her photo first...
        second = dict(forged["media_attachments"][0], id="x2", url=evil._serve_image("x2", FORGED))
        forged["media_attachments"].append(second)  # ...and the attacker's after it
        configure(site, ("evil", evil), ("source", site.source), trusted=[home])
        assert site.wlb("collect").code == 0
        (item,) = site.queue("all")
        assert site.wlb("approve", str(item["id"])).code == 0
        site.wlb("publish")
        sizes = [size_of(u["data"]) for u in site.community.uploads]
        assert (1000, 700) not in sizes, f"the attacker's image was published credited to Alice: {sizes}"

def test_a_person_named_wlb_rejecting_is_a_person_deciding(site, evil, monkeypatch):
    monkeypatch.setenv("WLB_REVIEWER", "wlb")  # or getpass.getuser() == "wlb" on a server
    with FakeMastodon(domain=None) as home:
        real = home.add_status(images=[REAL], acct="alice", display_name="Alice", created_at=T0)
        evil.add_forged(domain=home.domain, uri=real["uri"], image=FORGED)
        configure(site, ("evil", evil), trusted=[home])
        assert site.wlb("collect").code == 0
        (item,) = site.queue("all")
        assert site.wlb("reject", str(item["id"]), "--reason", "offensive").code == 0
        configure(site, ("evil", evil), ("home", home))
        assert site.wlb("collect").code == 0
        (item,) = site.queue("all")
        assert item["status"] == "rejected", f"the reviewer's reject was undone: now {item['status']}"
