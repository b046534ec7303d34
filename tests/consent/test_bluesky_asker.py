"""The Bluesky asker against the fake PDS: a reply record with strong refs and a mention facet at a planned record key,
never twice, and only replies from the photographer's DID counting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.base import AskRequest
from consent.bluesky import BlueskyAsker, PostGone, RepliesClosed
from core.http import Http
from core.settings import NetworkSettings
from platforms.bluesky import BlueskyAPI, SessionFile, session_path, stable_key
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky

PLANNED = datetime(2026, 11, 20, 12, 0, 0, 250000, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC)
TEXT = "@alice.bsky.social Hoi! WeLoveBrussels wil je foto graag delen. Antwoord #ja of #nee. https://photos.example/i/9"


@pytest.fixture
def fake():
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def asker(fake, tmp_path) -> BlueskyAsker:
    http = Http(NetworkSettings(allow_private=[fake.origin]))
    api = BlueskyAPI(http, fake.base_url, fake.handle, fake.password, password_env="WLB_BSKY_PASSWORD",
                     session_file=SessionFile(session_path(tmp_path, fake.handle, fake.base_url), fake.handle,
                                              fake.base_url))
    return BlueskyAsker(api, clock=lambda: NOW)


def request_for(post: dict, **changes) -> AskRequest:
    values = dict(text=TEXT, post_url="https://bsky.app/profile/alice.bsky.social/post/x", post_remote_id=post["uri"],
                  post_key=post["uri"], author_handle="alice.bsky.social", author_uid=post["author"]["did"],
                  idempotency_key="consent-9-xyz", visibility="direct", language="nl", planned_at=PLANNED)
    return AskRequest(**(values | changes))


def strong(ref: dict) -> tuple[str, str]:
    """A com.atproto.repo.strongRef as (uri, cid); the SDK also writes its $type."""
    assert ref.get("$type", "com.atproto.repo.strongRef") == "com.atproto.repo.strongRef"
    return ref["uri"], ref["cid"]


def test_the_reply_record_has_strong_refs_a_mention_facet_and_the_planned_key(fake, asker):
    post = fake.add_post(handle="alice.bsky.social", images=[images.jpeg(1)], langs=["nl"])
    sent = asker.ask(request_for(post))

    (create,) = fake.calls("com.atproto.repo.createRecord")
    rkey = stable_key(PLANNED, "consent-9-xyz")
    assert (create.json["repo"], create.json["collection"], create.json["rkey"]) == (fake.did, "app.bsky.feed.post", rkey)
    record = create.json["record"]
    assert strong(record["reply"]["root"]) == strong(record["reply"]["parent"]) == (post["uri"], post["cid"])
    assert record["text"] == TEXT and record["langs"] == ["nl"] and record["createdAt"] == "2026-11-21T09:30:15.123Z"
    (facet,) = record["facets"]
    assert TEXT.encode()[facet["index"]["byteStart"]:facet["index"]["byteEnd"]] == b"@alice.bsky.social"
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#mention", "did": post["author"]["did"]}]
    assert sent.remote_id == f"at://{fake.did}/app.bsky.feed.post/{rkey}"
    assert sent.url == f"https://bsky.app/profile/{fake.handle}/post/{rkey}"
    assert fake.calls("com.atproto.repo.putRecord") == [], "createRecord: a second write at the key is refused"


def test_mention_offsets_count_utf8_bytes():
    from consent.bluesky import mention_facets
    text = "Été 🇧🇪 @alice.bsky.social, merci @alice.bsky.socialite"
    (facet,) = mention_facets(text, "alice.bsky.social", "did:plc:a")
    assert text.encode()[facet.index.byte_start:facet.index.byte_end] == b"@alice.bsky.social"


def test_a_reply_to_a_reply_keeps_the_threads_root(fake, asker):
    top = fake.add_post(handle="bob.bsky.social", images=[images.jpeg(2)])
    post = fake.add_reply(top["uri"], handle="alice.bsky.social", text="my photo of it")
    asker.ask(request_for(post))
    record = fake.calls("com.atproto.repo.createRecord")[0].json["record"]
    assert strong(record["reply"]["root"]) == (top["uri"], top["cid"])
    assert strong(record["reply"]["parent"]) == (post["uri"], post["cid"])


def test_asking_again_never_posts_twice(fake, asker):
    post = fake.add_post(handle="alice.bsky.social", images=[images.jpeg(1)])
    first = asker.ask(request_for(post))
    assert asker.find_sent(request_for(post)) == first
    assert asker.ask(request_for(post)) == first, "the key is taken: the record there is our request"
    assert len(fake.replies_to(post["uri"])) == 1
    assert asker.find_sent(request_for(post, idempotency_key="another")) is None


def test_a_deleted_post_or_a_threadgate_is_a_definite_no(fake, asker):
    gone = fake.add_post(handle="alice.bsky.social", images=[images.jpeg(1)])
    fake.delete_post(gone["uri"])
    with pytest.raises(PostGone):
        asker.ask(request_for(gone))
    gated = fake.add_post(handle="alice.bsky.social", images=[images.jpeg(2)])
    fake.reply_disabled = {gated["uri"]}
    with pytest.raises(RepliesClosed):
        asker.ask(request_for(gated))
    assert fake.calls("com.atproto.repo.createRecord") == []


def test_only_replies_from_the_photographers_did_count(fake, asker):
    post = fake.add_post(handle="alice.bsky.social", display_name="Alice", images=[images.jpeg(1)])
    request = request_for(post)
    sent = asker.ask(request)
    fake.add_reply(sent.remote_id, handle="alice-bsky.social", display_name="Alice", text="ja")  # lookalike
    fake.add_reply(sent.remote_id, handle="mallory.bsky.social", text="yes",
                   did=post["author"]["did"])  # a view claiming her DID from mallory's repository
    stranger = fake.add_reply(sent.remote_id, handle="bob.bsky.social", text="yes!")
    theirs = fake.add_reply(sent.remote_id, handle="alice.bsky.social", text="@welovebrussels.test ja graag 👍")
    aside = fake.add_reply(stranger["uri"], handle="alice.bsky.social", text="nee")  # hers, but an answer to bob
    fake.add_reply(theirs["uri"], handle="alice.bsky.social", text="echt")  # her follow-up to her answer: to us
    fake.add_reply(aside["uri"], handle="alice.bsky.social", text="ja")  # still her talk with bob
    replies = asker.replies(sent, request)

    assert [(r.author_handle, r.by_author, r.to_us) for r in replies] == [
        ("alice-bsky.social", False, True), ("bob.bsky.social", False, True), ("alice.bsky.social", True, True),
        ("alice.bsky.social", True, False), ("alice.bsky.social", True, True), ("alice.bsky.social", True, False)]
    assert replies[2].text == "@welovebrussels.test ja graag 👍" and replies[2].remote_id == theirs["uri"]
    (thread,) = fake.calls("app.bsky.feed.getPostThread")
    assert thread.query["uri"] == [sent.remote_id]
