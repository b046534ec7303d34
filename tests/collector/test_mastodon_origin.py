"""verify(): the post's origin (the author's home instance) is asked, not the instance that served it."""

from __future__ import annotations

import pytest

from core.posts import OriginClaim
from collector.mastodon import MastodonCollector
from platforms.mastodon import MastodonAPI
from collector.pixelfed import PixelfedCollector
from core.http import Http
from core.settings import NetworkSettings
from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon

TAG = "welovebrussels"
TOKEN = "serving-token"
PHOTO = images.jpeg(3, (64, 64))


@pytest.fixture
def servers():
    # The origin answers at its own address (domain None): a uri on 127.0.0.1:PORT is asked there.
    with FakeMastodon(domain=None) as origin, FakeMastodon(domain="serving.example", token=TOKEN) as serving:
        yield origin, serving


def collector(serving: FakeMastodon, *trusted: FakeMastodon, kind=MastodonCollector):
    http = Http(NetworkSettings(allow_private=[serving.origin, *(t.origin for t in trusted)]), sleep=lambda s: None)
    return kind(MastodonAPI(http, serving.base_url, TOKEN))


def collected(c: MastodonCollector) -> list:
    return [p for page in c.pages(TAG, None) for p in page.posts]


def claim_for(post) -> OriginClaim:
    return OriginClaim(key=post.key, remote_id=post.remote_id, url=post.url, author_handle=post.author.handle,
                       media_urls=tuple(u for m in post.images for u in (m.url, m.remote_url) if u))


def test_a_federated_post_is_confirmed_by_its_origin_without_our_token(servers):
    origin, serving = servers
    original = origin.add_status(images=[PHOTO], acct="alice")
    serving.federate(original, origin)
    c = collector(serving, origin)
    (post,) = collected(c)
    assert post.author.handle == f"alice@{origin.domain}" and post.key == original["uri"]
    check = c.verify(claim_for(post))
    assert check.verified and not check.deleted and check.problem is None
    assert check.image_urls == (original["media_attachments"][0]["url"],)
    (asked,) = [r for r in origin.requests if r.path.startswith("/api/v1/statuses/")]
    assert asked.path == f"/api/v1/statuses/{original['id']}"
    assert "authorization" not in asked.headers, "the serving channel's token never goes to another instance"


def test_deleted_at_the_origin_is_deleted_even_if_the_copy_remains(servers):
    origin, serving = servers
    original = origin.add_status(images=[PHOTO], acct="alice")
    serving.federate(original, origin)
    c = collector(serving, origin)
    (post,) = collected(c)
    origin.delete_status(original["id"])
    assert c.verify(claim_for(post)).deleted


def test_a_forged_copy_is_refused_by_the_origin(servers):
    origin, serving = servers
    real = origin.add_status(images=[PHOTO], acct="alice")
    mallory = origin.add_status(images=[PHOTO], acct="mallory")
    # The hostile instance serves mallory's post as alice's, under mallory's real id at the origin.
    forged = serving.federate(mallory, origin)
    forged["account"] = serving.federate(real, origin)["account"]
    c = collector(serving, origin)
    post = next(p for p in collected(c) if p.key == mallory["uri"])
    assert post.author.handle == f"alice@{origin.domain}"
    check = c.verify(claim_for(post))
    assert not check.verified and "says the author is 'mallory'" in check.problem


def test_a_post_that_became_private_at_its_origin_is_a_problem(servers):
    origin, serving = servers
    original = origin.add_status(images=[PHOTO], acct="alice")
    serving.federate(original, origin)
    c = collector(serving, origin)
    (post,) = collected(c)
    original["visibility"] = "private"
    assert c.verify(claim_for(post)).problem.endswith("says the post is not public")


def test_a_local_post_is_asked_of_the_serving_instance_with_its_token(servers):
    _, serving = servers
    status = serving.add_status(images=[PHOTO], acct="bob")
    c = collector(serving)
    (post,) = collected(c)
    assert post.author.handle == "bob@serving.example" and post.author.authoritative
    assert c.verify(claim_for(post)).verified
    asked = [r for r in serving.requests if r.path == f"/api/v1/statuses/{status['id']}"]
    assert asked and asked[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_an_origin_that_cannot_be_asked_is_not_verified(servers):
    origin, serving = servers
    serving.federate(origin.add_status(images=[PHOTO], acct="alice"), origin)
    (post,) = collected(collector(serving, origin))
    untrusted = collector(serving)  # the origin's 127.0.0.1 address is not in allow_private: the guard refuses
    check = untrusted.verify(claim_for(post))
    assert (check.verified, check.deleted, check.problem) == (False, False, None)
    origin.stop()
    check = collector(serving, origin).verify(claim_for(post))
    assert (check.verified, check.deleted, check.problem) == (False, False, None)
    serving.delete_status(post.remote_id)  # not even the channel that served it has it any more
    assert collector(serving, origin).verify(claim_for(post)).deleted


def test_an_unknown_uri_shape_is_not_asked(servers):
    _, serving = servers
    status = serving.add_status(images=[PHOTO])
    c = collector(serving)
    claim = OriginClaim(key="https://serving.example/notes/9xyz", remote_id=status["id"], url="", author_handle="a@b")
    check = c.verify(claim)
    assert (check.verified, check.deleted, check.problem) == (False, False, None)
    assert [r.path for r in serving.requests] == [f"/api/v1/statuses/{status['id']}"], "only the channel's copy"


def test_a_pixelfed_origin_wants_a_token_so_it_cannot_confirm_for_strangers():
    with FakeMastodon(flavor="pixelfed", domain=None, token="theirs") as origin, \
            FakeMastodon(domain="serving.example", token=TOKEN) as serving:
        original = origin.add_status(images=[PHOTO], acct="dana")
        assert original["uri"] == f"{origin.base_url}/p/dana/{original['id']}"
        serving.federate(original, origin)
        c = collector(serving, origin)
        (post,) = collected(c)
        check = c.verify(claim_for(post))
        assert (check.verified, check.deleted, check.problem) == (False, False, None)
        assert [r.path for r in origin.requests] == [f"/api/v1/statuses/{original['id']}"]


def test_a_pixelfed_channel_confirms_its_own_posts():
    with FakeMastodon(flavor="pixelfed", domain="pix.example", token=TOKEN) as serving:
        serving.add_status(images=[PHOTO], acct="dana")
        c = collector(serving, kind=PixelfedCollector)
        (post,) = collected(c)
        assert post.key.startswith("https://pix.example/p/dana/")
        assert c.verify(claim_for(post)).verified
