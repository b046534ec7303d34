"""The fediverse asker against fake instances: the post resolved on our instance, the reply sent once, answers read
back, and only the photographer's own reply counting (not a display name, not the same username elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent.base import AskRequest
from consent.mastodon import MastodonAsker, PostGone
from core.errors import NotCreated
from core.http import Http
from core.settings import NetworkSettings
from platforms.mastodon import MastodonAPI
from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon

TOKEN = "ask-token"
PLANNED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TEXT = ("@alice@fake.social Bonjour ! WeLoveBrussels aimerait partager votre photo. Répondez #oui pour accepter "
        "ou #non pour refuser. https://photos.example/items/7")


@pytest.fixture
def world():
    """alice posts on fake.social; our account lives on community.social, which fetches her post when asked."""
    with FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(domain="community.social", token=TOKEN) as community:
        community.peers.append(source)
        community._next_id += 10**9  # two servers, two id sequences: a copy's id is never the original's
        yield source, community


def asker_for(*fakes: FakeMastodon, flavor: str = "mastodon") -> MastodonAsker:
    http = Http(NetworkSettings(allow_private=[f.origin for f in fakes]))
    return MastodonAsker(MastodonAPI(http, fakes[-1].base_url, TOKEN), flavor=flavor)


def request_for(status: dict, **changes) -> AskRequest:
    values = dict(text=TEXT, post_url=status["url"], post_remote_id=status["id"], post_key=status["uri"],
                  author_handle="alice@fake.social", author_uid=None, idempotency_key="consent-7-abc",
                  visibility="direct", language="fr", planned_at=PLANNED)
    return AskRequest(**(values | changes))


def posted(community: FakeMastodon) -> list:
    return [r for r in community.requests if r.method == "POST" and r.path == "/api/v1/statuses"]


def test_the_reply_goes_to_our_instances_copy_with_mention_visibility_language_and_key(world):
    source, community = world
    original = source.add_status(images=[images.jpeg(1)], text="Marolles au matin", language="fr")
    asker = asker_for(source, community)
    sent = asker.ask(request_for(original))

    (search,) = [r for r in community.requests if r.path == "/api/v2/search"]
    assert search.query["resolve"] == ["true"] and search.query["type"] == ["statuses"]
    assert search.query["q"] == [original["url"]] and search.headers["authorization"] == f"Bearer {TOKEN}"
    (copy,) = [s for s in community._statuses.values() if s["uri"] == original["uri"]]
    assert copy["id"] != original["id"], "our instance knows the post by its own id"
    (post,) = posted(community)
    assert post.form["in_reply_to_id"] == [copy["id"]]
    assert post.form["status"] == [TEXT] and post.form["visibility"] == ["direct"] and post.form["language"] == ["fr"]
    assert post.headers["idempotency-key"] == "consent-7-abc"
    (reply,) = community.replies_to(copy["id"])
    assert sent.remote_id == reply["id"] and sent.url == reply["url"]
    assert [m["acct"] for m in reply["mentions"]] == ["alice@fake.social"]


def test_a_text_without_the_mention_gets_it_in_front(world):
    source, community = world
    original = source.add_status(images=[images.jpeg(1)])
    asker_for(source, community).ask(request_for(original, text="Hello! Reply #yes to agree."))
    assert posted(community)[0].form["status"] == ["@alice@fake.social Hello! Reply #yes to agree."]


def test_a_second_ask_with_the_same_key_is_the_same_reply_and_later_it_is_found_in_the_thread(world):
    source, community = world
    original = source.add_status(images=[images.jpeg(1)])
    asker = asker_for(source, community)
    first = asker.ask(request_for(original))
    assert asker.ask(request_for(original)) == first  # Mastodon: same key within the hour, same status
    assert len(community.published) == 1
    community.clock = lambda: datetime.now(UTC) + timedelta(hours=2)  # the key is forgotten after an hour
    assert asker.find_sent(request_for(original)) == first
    other = source.add_status(images=[images.jpeg(2)])
    assert asker.find_sent(request_for(other, idempotency_key="consent-8")) is None


def test_only_the_photographers_own_reply_counts(world):
    source, community = world
    original = source.add_status(images=[images.jpeg(1)], acct="alice", display_name="Alice")
    asker = asker_for(source, community)
    request = request_for(original)
    sent = asker.ask(request)
    community.add_reply(sent.remote_id, acct="mallory@fake.social", display_name="Alice", text="yes")
    community.add_reply(sent.remote_id, acct="alice@evil.host", display_name="Alice", text="oui")
    community.add_reply(sent.remote_id, acct="alice@fake.social", uri_host="evil.host", text="ja")  # forged origin
    community.add_reply(sent.remote_id, acct="alice@fake.social", account_host="evil.host", text="ja graag")
    community.add_reply(sent.remote_id, acct="alice", text="yes")  # community.social's own alice
    own = community.add_reply(sent.remote_id, acct="alice@fake.social", display_name="Alice", text="oui !")
    replies = asker.replies(sent, request)

    assert [(r.author_handle, r.by_author) for r in replies] == [
        ("mallory@fake.social", False), ("alice@evil.host", False), ("alice@fake.social", False),
        ("alice@fake.social", False), ("alice@community.social", False), ("alice@fake.social", True)]
    theirs = replies[-1]
    assert theirs.text == "@welovebrussels oui !", "HTML stripped, words kept"
    assert theirs.remote_id == own["id"] and theirs.url == own["url"]
    context = [r for r in community.requests if r.path.endswith("/context")]
    assert context and context[-1].path == f"/api/v1/statuses/{sent.remote_id}/context"


def test_a_reply_from_the_photographers_web_domain_counts(world):
    """LOCAL_DOMAIN fake.social with WEB_DOMAIN social.fake.social: uri and profile live on the subdomain."""
    source, community = world
    original = source.add_status(images=[images.jpeg(1)])
    asker = asker_for(source, community)
    sent = asker.ask(request_for(original))
    community.add_reply(sent.remote_id, acct="alice@fake.social", uri_host="social.fake.social",
                        account_host="social.fake.social", text="yes")
    assert [r.by_author for r in asker.replies(sent, request_for(original))] == [True]


def test_a_deleted_post_cannot_be_asked(world):
    source, community = world
    original = source.add_status(images=[images.jpeg(1)])
    source.delete_status(original["id"])
    with pytest.raises(PostGone):
        asker_for(source, community).ask(request_for(original))
    assert posted(community) == []


def test_a_hostile_context_costs_only_its_bad_records(world):
    source, community = world
    original = source.add_status(images=[images.jpeg(1)])
    asker = asker_for(source, community)
    sent = asker.ask(request_for(original))
    good = community.add_reply(sent.remote_id, acct="alice@fake.social", text="yes")
    broken = community.add_reply(sent.remote_id, acct="alice@fake.social", text="no")
    broken["account"] = "not an account"
    odd = community.add_reply(sent.remote_id, acct="alice@fake.social", text="\x1b]52;c;evil\x07yes\u202e")
    odd["created_at"] = "yesterday"
    weird = community.add_reply(sent.remote_id, acct="alice@fake.social", text="x")
    weird["content"] = "<p>\x1b[31mje\u202edis oui</p>" + "<b>" * 10_000
    replies = asker.replies(sent, request_for(original))
    assert [r.remote_id for r in replies] == [good["id"], weird["id"]]
    assert "\x1b" not in replies[1].text and "\u202e" not in replies[1].text


@pytest.fixture
def pixelfed():
    with FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(flavor="pixelfed", domain="pixel.social", token=TOKEN) as ours:
        ours.peers.append(source)
        yield source, ours


def test_pixelfed_gets_a_private_reply_and_a_duplicate_key_finds_the_first(pixelfed):
    source, ours = pixelfed
    original = source.add_status(images=[images.jpeg(1)])
    asker = asker_for(source, ours, flavor="pixelfed")
    first = asker.ask(request_for(original))
    assert posted(ours)[0].form["visibility"] == ["private"], "Pixelfed's statusCreate refuses direct"
    again = asker.ask(request_for(original))  # Pixelfed: 400 "Duplicate idempotency key." → look it up
    assert again == first and len(ours.published) == 1


def test_pixelfed_comments_disabled_is_a_definite_refusal(pixelfed):
    source, ours = pixelfed
    original = source.add_status(images=[images.jpeg(1)])
    asker = asker_for(source, ours, flavor="pixelfed")
    asker.api.search_statuses(original["url"])  # fetch it, then its author closes the comments
    ours.comments_disabled.add(ours._resolved[original["uri"]])
    with pytest.raises(NotCreated, match="Comments have been disabled"):
        asker.ask(request_for(original))
    assert ours.published == []


def test_a_photographer_on_our_own_instance_answers_as_a_local_account():
    """Found on community.social itself: her acct there has no domain, and that is still her."""
    with FakeMastodon(domain="community.social", token=TOKEN) as community:
        original = community.add_status(images=[images.jpeg(1)], acct="alice")
        asker = asker_for(community)
        request = request_for(original, author_handle="alice@community.social")
        sent = asker.ask(request)
        assert posted(community)[0].form["in_reply_to_id"] == [original["id"]], "no copy: the post is ours to reply to"
        community.add_reply(sent.remote_id, acct="alice", text="ja")
        community.add_reply(sent.remote_id, acct="alice@fake.social", text="ja")
        assert [(r.author_handle, r.by_author) for r in asker.replies(sent, request)] == [
            ("alice@community.social", True), ("alice@fake.social", False)]


def test_her_reply_to_someone_elses_reply_is_hers_but_not_an_answer_to_us(world):
    """A stranger asks her something under our request and she answers them: that "yes" is not her consent. Her
    own follow-up to her answer is still an answer to us."""
    source, community = world
    original = source.add_status(images=[images.jpeg(1)], acct="alice")
    asker = asker_for(source, community)
    request = request_for(original)
    sent = asker.ask(request)
    question = community.add_reply(sent.remote_id, acct="bob@fake.social", text="@alice is this the Sablon?")
    community.add_reply(question["id"], acct="alice@fake.social", text="yes")
    answer = community.add_reply(sent.remote_id, acct="alice@fake.social", text="hmm")
    community.add_reply(answer["id"], acct="alice@fake.social", text="non")
    replies = asker.replies(sent, request)
    assert [(r.author_handle, r.text.split()[-1], r.by_author, r.to_us) for r in replies] == [
        ("bob@fake.social", "Sablon?", False, True), ("alice@fake.social", "yes", True, False),
        ("alice@fake.social", "hmm", True, True), ("alice@fake.social", "non", True, True)]


def test_pixelfed_finds_our_reply_past_the_twenty_replies_its_context_lists(pixelfed):
    """Pixelfed's statusContext lists only 20 direct replies: on a busy post ours is not among them, and our own
    recent statuses are where a lost answer's reply is found (else, past the key's hour, a second reply)."""
    source, ours = pixelfed
    original = source.add_status(images=[images.jpeg(1)])
    asker = asker_for(source, ours, flavor="pixelfed")
    copy = asker._target(request_for(original))
    for n in range(25):
        ours.add_reply(copy, acct=f"fan{n}@fake.social", text="wow")
    first = asker.ask(request_for(original))
    assert asker.find_sent(request_for(original)) == first
    assert asker.find_sent(request_for(original, idempotency_key="other", post_url="https://fake.social/@x/1",
                                        post_key="https://fake.social/users/x/statuses/1")) is None
