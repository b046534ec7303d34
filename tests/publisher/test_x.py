"""X publisher against the fake X API v2: what is uploaded and posted, the one-line app-only refusal, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import NotCreated, PlatformError
from core.http import Http
from core.settings import NetworkSettings
from platforms.x import XAPI
from publisher.base import PublishRequest, UploadImage
from publisher.credit import CreditAuthor, CreditInput, compose, credit_line, x_length
from publisher.x import LIMITS, XPublisher
from tests.fakes import images
from tests.fakes.x import APP_TOKEN, OWN_ID, OWN_USERNAME, USER_TOKEN, FakeX, weighted

JPEG = images.jpeg(3, size=(200, 150))
TEMPLATE = "{caption}\n\n📷 {credit} · {url}\n{hashtags}"


@pytest.fixture
def x():
    with FakeX() as fake:
        yield fake


def publisher(fake: FakeX, token: str = USER_TOKEN) -> XPublisher:
    http = Http(NetworkSettings(allow_private=[fake.origin]), sleep=lambda s: None)
    return XPublisher(XAPI(http, fake.base_url, token, token_env="WLB_X_TOKEN"))


def request(text: str = "Sablon on Sunday & friends 📷 @jane_doe\n#welovebrussels", n: int = 2,
            planned_at: datetime | None = None) -> PublishRequest:
    return PublishRequest(text=text, images=[UploadImage(JPEG, "image/jpeg", f"alt {i}") for i in range(n)],
                          idempotency_key="k" * 40, original_url="https://x.com/jane_doe/status/1",
                          planned_at=planned_at)


def test_publish_uploads_each_image_sets_its_alt_text_then_posts_with_the_media_ids(x):
    published = publisher(x).publish(request())
    uploads = [r for r in x.requests if r.path == "/2/media/upload"]
    assert len(uploads) == 2
    assert uploads[0].form == {"media_category": ["tweet_image"], "media_type": ["image/jpeg"]}
    assert uploads[0].files["media"][2] == JPEG and uploads[0].headers["authorization"] == f"Bearer {USER_TOKEN}"
    ids = list(x.uploads)
    metadata = [r.json for r in x.requests if r.path == "/2/media/metadata"]
    assert metadata == [{"id": ids[0], "metadata": {"alt_text": {"text": "alt 0"}}},
                        {"id": ids[1], "metadata": {"alt_text": {"text": "alt 1"}}}]
    (post,) = [r.json for r in x.requests if r.path == "/2/tweets" and r.method == "POST"]
    assert post == {"text": request().text, "media": {"media_ids": ids}}
    (mine,) = x.own_posts()
    assert published.remote_id == mine.id and published.url == f"https://x.com/{OWN_USERNAME}/status/{mine.id}"
    assert [x.media[k]["alt_text"] for k in mine.media_keys] == ["alt 0", "alt 1"]


def test_an_app_only_token_is_one_clear_line_and_nothing_is_posted(x):
    with pytest.raises(NotCreated) as caught:
        publisher(x, APP_TOKEN).publish(request())
    message = str(caught.value)
    assert "app-only bearer token can search but not post" in message and "$WLB_X_TOKEN" in message
    assert "tweet.write media.write" in message and "\n" not in message
    assert x.own_posts() == []


def test_a_lost_answer_is_an_error_and_find_existing_then_finds_the_post(x):
    planned = datetime.now(UTC)
    x.lose_next_post_answer = True
    req = request(text="Rue Haute & Marolles: https://example.org/a?b=1 📷 @jane_doe\n#welovebrussels",
                  planned_at=planned)
    with pytest.raises(PlatformError) as caught:
        publisher(x).publish(req)
    assert not isinstance(caught.value, NotCreated)  # it may have been posted: the run must look first
    assert len([r for r in x.requests if r.path == "/2/tweets"]) == 1  # never retried blindly
    found = publisher(x).find_existing(req)
    (mine,) = x.own_posts()
    assert found is not None and found.remote_id == mine.id
    timeline = [r for r in x.requests if r.path == f"/2/users/{OWN_ID}/tweets"][-1]
    assert timeline.query["start_time"] == [(planned - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")]


def test_find_existing_ignores_our_other_posts(x):
    publisher(x).publish(request(text="another photo 📷 @someone"))
    assert publisher(x).find_existing(request()) is None
    assert publisher(x).find_existing(request(text="another photo 📷 @someone", n=1)) is None  # not as many images
    assert publisher(x).find_existing(request(text="another photo 📷 @someone")) is not None


def test_a_duplicate_refusal_records_our_earlier_post_instead_of_freeing_the_item(x):
    # X's 403 "duplicate content" means our identical post exists: it is found and recorded, never "not created"
    # (which would free the item, and every later run would try again as a first attempt).
    first = publisher(x).publish(request())
    again = publisher(x).publish(request())
    assert again.remote_id == first.remote_id and again.url == first.url
    assert len([r for r in x.requests if r.method == "POST" and r.path == "/2/tweets"]) == 2
    assert len(x.own_posts()) == 1


def test_a_duplicate_refusal_whose_post_cannot_be_found_stays_in_doubt(x, monkeypatch):
    publisher(x).publish(request())
    blind = publisher(x)
    monkeypatch.setattr(blind, "find_existing", lambda _request: None)  # e.g. more than 20 posts since
    with pytest.raises(PlatformError, match="duplicate of one of our own.*check the account by hand") as caught:
        blind.publish(request())
    assert not isinstance(caught.value, NotCreated)


def test_x_counts_cjk_and_emoji_double_and_every_link_23():
    assert x_length("Bruxelles") == 9
    assert x_length("布鲁塞尔") == 8 and x_length("📷") == 2
    assert x_length("see https://example.org/a/very/long/path/that/goes/on?and=on") == 4 + 23
    assert x_length("brussels.be") == 23  # twitter-text links a bare domain too
    for text in ("café – “quotes” …", "日本語 and English", "https://a.example/x 🇧🇪"):
        assert x_length(text) >= weighted(text)


def test_the_caption_is_shortened_never_the_credit_and_the_post_fits():
    credit = credit_line(CreditAuthor(network="x", handle="jane_doe", name="Jane"), "x")
    assert credit == "@jane_doe"
    caption = "布鲁塞尔大广场的夜景 " * 40
    text = compose(TEMPLATE, CreditInput(caption=caption, credit=credit, url="", hashtags=["welovebrussels"]), LIMITS)
    assert x_length(text) <= 280 and weighted(text) <= 280
    assert text.endswith("📷 @jane_doe\n#welovebrussels")  # no dangling "·" when the original is not linked
    assert "…" in text


def test_other_networks_credit_an_x_author_in_words():
    author = CreditAuthor(network="x", handle="jane_doe", name="Jane Doe")
    assert credit_line(author, "fediverse") == "Jane Doe (jane_doe on X)"
    assert credit_line(CreditAuthor(network="bluesky", handle="lea.bsky.social", name="Léa"), "x") \
        == "Léa (lea.bsky.social on Bluesky)"


def test_a_sensitive_post_gets_x_sensitive_media_warning_on_each_image(x):
    req = request()
    publisher(x).publish(PublishRequest(**{**req.__dict__, "sensitive": True}))
    metadata = [r.json["metadata"] for r in x.requests if r.path == "/2/media/metadata"]
    assert metadata == [{"alt_text": {"text": f"alt {i}"}, "sensitive_media_warning": {"other": True}} for i in (0, 1)]
    assert all(u["warning"] == {"other": True} for u in x.uploads.values())


def test_a_bare_domain_x_turned_into_a_tco_link_still_matches_after_a_lost_answer():
    # A Bluesky author is credited "alice.bsky.social on Bluesky": X links the bare domain and gives the text back
    # with a t.co link in its place. Not matching it, the rerun would post the photo a second time.
    from publisher.x import comparable
    sent = "Grand-Place 📷 Alice (alice.bsky.social on Bluesky)\n#welovebrussels"
    shown = "Grand-Place 📷 Alice (https://t.co/0123456789 on Bluesky)\n#welovebrussels https://t.co/9876543210"
    assert comparable(shown) == comparable(sent)


def test_an_account_answer_without_a_username_still_posts_once_under_the_id_form_of_the_url():
    # GET /2/users/me is checked for an id only; a missing username must not be a KeyError that stops the run.
    class Api:
        posted: list = []

        def me(self):
            return {"id": "12"}

        def upload_media(self, data, mime):
            return "5"

        def set_metadata(self, media_id, alt, *, sensitive=False):
            pass

        def create_post(self, text, media_ids):
            self.posted.append(text)
            return {"id": "99"}

        def own_posts(self, *, start_time=None):
            return [{"id": "99", "text": "hello", "attachments": {"media_keys": ["3_5"]}}]

    req = PublishRequest(text="hello", images=[UploadImage(JPEG, "image/jpeg", "")], idempotency_key="k" * 40,
                         original_url="https://x.com/a/status/1")
    published = XPublisher(Api()).publish(req)
    assert published.url == "https://x.com/i/web/status/99" and Api.posted == ["hello"]
    assert XPublisher(Api()).find_existing(req).url == "https://x.com/i/web/status/99"
