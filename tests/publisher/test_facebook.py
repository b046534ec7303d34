"""Facebook Page publishing against the fake Graph API: one photo, several, credit, errors, never twice, doctor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.errors import NotCreated, NotFound, PlatformError
from core.http import Http
from core.settings import ChannelSettings, NetworkSettings, Settings
from platforms import facebook
from platforms.facebook import FacebookAPI, GraphError, RateLimited
from platforms.registry import PLATFORMS
from publisher.base import PublishRequest, UploadImage
from publisher.credit import CreditAuthor, CreditInput, compose, credit_line
from publisher.facebook import MAX_CHARS, FacebookPublisher, utf16_length
from tests.fakes import images
from tests.fakes.facebook import PAGE_ID, PAGE_TOKEN, VERSION, FakeGraph

ORIGINAL = "https://fake.social/@alice/113000000000000001"
PLANNED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def graph():
    with FakeGraph(clock=lambda: PLANNED + timedelta(seconds=5)) as fake:
        yield fake


def http_for(fake: FakeGraph, **net) -> Http:
    return Http(NetworkSettings(allow_private=[fake.origin], retries=2, timeout=5.0, **net), sleep=lambda s: None)


def publisher_for(fake: FakeGraph, token: str = PAGE_TOKEN) -> FacebookPublisher:
    return FacebookPublisher(FacebookAPI(http_for(fake), fake.api_url, PAGE_ID, token, token_env="WLB_FB_TOKEN"))


def jpeg(seed: int) -> UploadImage:
    return UploadImage(data=images.jpeg(seed, size=(800, 600)), mime="image/jpeg", alt=f"photo {seed}", width=800,
                       height=600)


def request(n_images: int = 1, text: str = f"Grand-Place\n\n📷 Alice (@alice@fake.social on the fediverse) · {ORIGINAL}",
            **kw) -> PublishRequest:
    return PublishRequest(text=text, images=[jpeg(i) for i in range(n_images)], idempotency_key="k" * 40,
                          original_url=ORIGINAL, planned_at=PLANNED, **kw)


# ---- publishing ------------------------------------------------------------------------------------


def test_one_photo_is_one_multipart_upload_with_its_caption_and_alt_text(graph):
    done = publisher_for(graph).publish(request(1))
    (call,) = graph.requests
    assert (call.method, call.path) == ("POST", f"/{VERSION}/{PAGE_ID}/photos")
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert "access_token" not in call.query and "access_token" not in call.form, "the token stays out of URLs"
    assert call.form["caption"] == [request().text] and call.form["published"] == ["true"]
    assert call.form["alt_text_custom"] == ["photo 0"]
    assert call.files["source"][1] == "image/jpeg" and call.files["source"][2] == jpeg(0).data
    (post,) = graph.posts
    assert done.remote_id == post["id"] and done.url == post["permalink_url"]
    assert post["message"] == request().text and len(post["photos"]) == 1


def test_several_photos_are_unpublished_uploads_attached_in_order_to_one_feed_post(graph):
    done = publisher_for(graph).publish(request(3))
    uploads = graph.calls("POST", "/photos")
    assert [u.form["published"] for u in uploads] == [["false"]] * 3
    assert all("caption" not in u.form for u in uploads), "the text goes on the post, once"
    assert [u.form["alt_text_custom"] for u in uploads] == [["photo 0"], ["photo 1"], ["photo 2"]]
    (feed,) = graph.calls("POST", "/feed")
    ids = [json.loads(feed.form[f"attached_media[{i}]"][0])["media_fbid"] for i in range(3)]
    assert ids == list(graph.photos) and "attached_media[3]" not in feed.form
    assert feed.form["message"] == [request().text]
    (post,) = graph.posts
    assert post["photos"] == ids and done.remote_id == post["id"]


def test_a_sensitive_item_is_refused_before_anything_is_sent(graph):
    with pytest.raises(NotCreated, match="content warning"):
        publisher_for(graph).publish(request(1, sensitive=True))
    assert graph.requests == []


def test_limits_fit_facebook_and_count_utf16_units():
    limits = FacebookPublisher(None).limits()
    assert (limits.max_chars, limits.max_media) == (MAX_CHARS, 10) == (63_206, 10)
    assert (limits.max_image_bytes, limits.max_image_pixels) == (4_000_000, 2048 * 2048)
    assert utf16_length("a📷") == 3 and utf16_length("é") == 1
    text = compose("{caption}\n\n📷 {credit} · {url}", CreditInput(caption="word " * 20_000, credit="Alice",
                                                                     url=ORIGINAL, hashtags=[]), limits)
    assert utf16_length(text) <= 63_206 and text.endswith(ORIGINAL), "the caption is cut, never the credit"


@pytest.mark.parametrize(("author", "expected"), [
    (CreditAuthor("fediverse", "alice@fake.social", "Alice"), "Alice (@alice@fake.social on the fediverse)"),
    (CreditAuthor("bluesky", "bob.bsky.social", "Bob", "did:plc:b"), "Bob (bob.bsky.social on Bluesky)"),
    (CreditAuthor("flickr", "janpeeters", "Jan Peeters"), "Jan Peeters (janpeeters on Flickr)"),
])
def test_credit_on_facebook_names_the_author_and_platform_in_words(author, expected):
    assert credit_line(author, "facebook", source_host="fake.social") == expected


# ---- errors: one line, the fix, and whether anything was created -----------------------------------


@pytest.mark.parametrize(("code", "subcode", "status", "kind", "words"), [
    (190, 463, 400, NotCreated, "no longer valid (it expired); make a new one"),
    (190, None, 400, NotCreated, "expired or was revoked"),
    (200, None, 403, NotCreated, "needs pages_manage_posts and pages_read_engagement"),
    (10, None, 403, NotCreated, "lacks a permission"),
    (32, None, 400, RateLimited, "throttling"),
    (613, None, 400, RateLimited, "try again in an hour"),
    (368, None, 400, NotCreated, "Support Inbox"),
    (100, None, 400, NotCreated, "Injected error"),
])
def test_graph_errors_become_one_actionable_line(graph, code, subcode, status, kind, words):
    graph.fail_next_graph("POST", "/photos", code, status=status, subcode=subcode)
    with pytest.raises(kind) as caught:
        publisher_for(graph).publish(request(1))
    message = str(caught.value)
    assert words in message and f"code {code}" in message and "fbtrace_id A" in message
    assert "\n" not in message and PAGE_TOKEN not in message
    assert isinstance(caught.value, NotCreated), "a refused write created nothing: the item may be tried again"
    assert graph.posts == []


def test_an_error_message_reaches_the_terminal_as_one_printable_line(graph):
    graph.fail_next_graph("POST", "/feed", 100, message="bad\x1b[2J\nparam\x07 " + "x" * 500)
    with pytest.raises(NotCreated) as caught:
        publisher_for(graph).publish(request(2))
    message = str(caught.value)
    assert "bad param" in message and "[2J" not in message and message.isprintable() and len(message) < 400


def test_after_a_rate_limit_nothing_more_is_sent_this_run(graph):
    api = FacebookAPI(http_for(graph), graph.api_url, PAGE_ID, PAGE_TOKEN, token_env="WLB_FB_TOKEN")
    graph.fail_next_graph("POST", "/photos", 4, message="(#4) Application request limit reached")
    with pytest.raises(RateLimited):
        api.post_photo(jpeg(1).data, "image/jpeg", "", "hello")
    with pytest.raises(RateLimited):
        api.page()
    assert len(graph.requests) == 1


def test_an_expired_token_on_a_read_is_not_a_refused_write(graph):
    graph.fail_next_graph("GET", "/published_posts", 190, subcode=463)
    with pytest.raises(GraphError) as caught:
        publisher_for(graph).find_existing(request())
    assert not isinstance(caught.value, NotCreated), "a failed look-up must not clear the attempt in doubt"
    assert "$WLB_FB_TOKEN" in str(caught.value)


def test_a_wrong_token_and_a_wrong_page_are_named(graph):
    with pytest.raises(NotCreated, match=r"Page token in \$WLB_FB_TOKEN is no longer valid"):
        publisher_for(graph, token="wrong").publish(request(1))
    api = FacebookAPI(http_for(graph), graph.api_url, "999", PAGE_TOKEN)
    with pytest.raises(NotFound, match="check page_id"):
        api.page()


def test_a_server_error_on_the_post_is_in_doubt_and_never_resent(graph):
    graph.fail_next(1, 500, path_prefix=f"/{VERSION}/{PAGE_ID}/feed")
    with pytest.raises(PlatformError) as caught:
        publisher_for(graph).publish(request(2))
    assert not isinstance(caught.value, NotCreated)
    assert len(graph.calls("POST", "/feed")) == 1, "a 500 to a post may hide a post: never resent blindly"


def test_unpublished_uploads_are_retried_after_a_server_error(graph):
    graph.fail_next(1, 503, path_prefix=f"/{VERSION}/{PAGE_ID}/photos")
    publisher_for(graph).publish(request(2))
    assert len(graph.calls("POST", "/photos")) == 3 and len(graph.posts) == 1


# ---- never twice -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_images", [1, 3])
def test_a_lost_answer_is_found_on_the_page_and_not_posted_again(graph, n_images):
    path = "/feed" if n_images > 1 else "/photos"
    if n_images == 1:
        graph.lose_answer_to("POST", "/photos")
    else:
        graph.lose_answer_to("POST", "/feed")
    publisher = publisher_for(graph)
    with pytest.raises(PlatformError) as caught:
        publisher.publish(request(n_images))
    assert not isinstance(caught.value, NotCreated)
    (post,) = graph.posts  # Facebook made it; we never heard
    sent = len(graph.calls("POST", path))
    found = publisher.find_existing(request(n_images))
    assert found is not None and found.remote_id == post["id"]
    assert found.url == post["permalink_url"]
    assert len(graph.calls("POST", path)) == sent == 1, "one post call, never repeated"
    lookups = graph.calls("GET", "/published_posts")
    assert lookups and lookups[0].query["fields"] == ["id,message,created_time,permalink_url"]
    assert lookups[0].query["since"] == [str(int((PLANNED - timedelta(minutes=10)).timestamp()))]


def test_an_older_post_linking_the_same_original_is_not_ours(graph):
    graph.add_post(f"Reposted a year ago · {ORIGINAL}", created_at=PLANNED - timedelta(days=400))
    assert publisher_for(graph).find_existing(request()) is None


def test_a_post_linking_a_longer_address_is_not_ours(graph):
    graph.add_post(f"another item · {ORIGINAL}2", created_at=PLANNED + timedelta(minutes=1))
    graph.add_post(f"another item · {ORIGINAL}/photo", created_at=PLANNED + timedelta(minutes=2))
    assert publisher_for(graph).find_existing(request()) is None
    graph.add_post(f"ours · {ORIGINAL}.", created_at=PLANNED + timedelta(minutes=3))
    assert publisher_for(graph).find_existing(request()) is not None


def test_a_429_to_a_post_is_a_definite_no_and_stops_the_run(graph):
    graph.rate_limit_next(1, retry_after="1")
    publisher = publisher_for(graph)
    with pytest.raises(RateLimited) as caught:
        publisher.publish(request(1))
    assert isinstance(caught.value, NotCreated)
    with pytest.raises(RateLimited):
        publisher.publish(request(1))
    assert len(graph.requests) == 1 and graph.posts == []


def test_find_existing_follows_the_cursor_past_a_first_page(graph):
    graph.add_post(f"ours · {ORIGINAL}", created_at=PLANNED + timedelta(minutes=1))
    for i in range(30):
        graph.add_post(f"later post {i}", created_at=PLANNED + timedelta(minutes=2 + i))
    found = publisher_for(graph).find_existing(request())
    assert found is not None
    afters = [r.query.get("after") for r in graph.calls("GET", "/published_posts")]
    assert afters[0] is None and afters[1] is not None and len(afters) == 2


def test_a_duplicate_refusal_finds_our_post_instead_of_failing(graph):
    graph.add_post(request().text, created_at=PLANNED + timedelta(seconds=2))
    done = publisher_for(graph).publish(request(1))
    assert len(graph.posts) == 1 and done.remote_id == graph.posts[0]["id"]


# ---- doctor ----------------------------------------------------------------------------------------


def channel_for(fake: FakeGraph) -> ChannelSettings:
    return ChannelSettings(kind="facebook", collect=False, publish=True, page_id=PAGE_ID, token_env="WLB_FB_TOKEN",
                           base_url=fake.api_url)


def test_doctor_says_the_page_can_be_posted_to(graph, tmp_path):
    line = facebook.probe(PAGE_TOKEN, channel_for(graph), Settings(), http_for(graph))
    assert line == ("can post to Page We Love Brussels (Page token, never expires; pages_manage_posts, "
                    "pages_read_engagement granted)")
    page, debug = graph.requests
    assert page.path == f"/{VERSION}/{PAGE_ID}" and page.query["fields"] == ["id,name"]
    assert debug.path == f"/{VERSION}/debug_token" and debug.query["input_token"] == [PAGE_TOKEN]


@pytest.mark.parametrize(("setup", "words"), [
    ({"scopes": ["pages_show_list", "pages_read_engagement"]}, "lacks pages_manage_posts"),
    ({"token_type": "USER"}, "is a user token; put the Page token there"),
])
def test_doctor_names_the_fix(setup, words):
    with FakeGraph(**setup) as fake:
        with pytest.raises(PlatformError, match=words):
            facebook.probe(PAGE_TOKEN, channel_for(fake), Settings(), http_for(fake))


def test_doctor_with_a_bad_token_says_make_a_new_one(graph):
    with pytest.raises(PlatformError, match="no longer valid"):
        facebook.probe("expired", channel_for(graph), Settings(), http_for(graph))


def test_doctor_when_the_token_cannot_inspect_itself(graph):
    graph.debug_token_refused = True
    line = facebook.probe(PAGE_TOKEN, channel_for(graph), Settings(), http_for(graph))
    assert line.startswith("can read Page We Love Brussels; its permissions could not be checked")


def test_the_registry_pins_the_same_graph_version_as_the_client():
    assert PLATFORMS["facebook"].default_base_url == facebook.DEFAULT_BASE_URL
    assert facebook.DEFAULT_BASE_URL.endswith("/v27.0")


def test_page_id_must_be_numeric():
    with pytest.raises(ValidationError, match="numeric id"):
        ChannelSettings(kind="facebook", page_id="welovebrussels/../me")
    assert ChannelSettings(kind="facebook", page_id=104512345678901).page_id == "104512345678901"


def test_an_answer_without_a_post_id_is_a_clear_error():
    with pytest.raises(PlatformError, match="accepted the photo post but sent back no usable post_id"):
        facebook._id({"id": "1"}, "post_id", "the photo post")
