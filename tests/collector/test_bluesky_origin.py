"""verify() asks the post's origin: the PDS named by the author's DID document, never the AppView that served it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from core.posts import OriginClaim
from collector.bluesky import BlueskyCollector
from platforms.bluesky_identity import image_cid, verify_post
from core.http import Http
from core.settings import NetworkSettings
from tests.collector.test_bluesky import make_api
from tests.fakes import images
from tests.fakes.bluesky import FakeBluesky, cid

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake():
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def collector(fake, tmp_path) -> BlueskyCollector:
    return BlueskyCollector(make_api(fake, tmp_path, []), plc_url=fake.base_url)


def claim_for(post: dict, **changes) -> OriginClaim:
    """What the collector stored for this postView, as publish hands it to verify()."""
    urls = tuple(i["fullsize"] for i in post["embed"]["images"])
    fields = dict(key=post["uri"], remote_id=post["uri"], url="https://bsky.app/profile/x/post/y",
                  author_handle=post["author"]["handle"], author_uid=post["author"]["did"], media_urls=urls)
    return OriginClaim(**(fields | changes))


def test_the_appview_image_url_carries_the_blob_cid():
    url = ("https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:ewvi7nxzyoun6zhxrhs64oiz/"
           "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku@jpeg")  # packages/bsky/src/image/uri.ts
    assert image_cid(url) == ("did:plc:ewvi7nxzyoun6zhxrhs64oiz",
                              "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    assert image_cid(url.removesuffix("@jpeg")) is not None
    assert image_cid("https://example.com/photo.jpg") is None


def test_a_post_its_pds_confirms_is_verified_with_the_pds_blob_urls(fake, collector):
    post = fake.add_post(images=[images.jpeg(1), images.jpeg(2)], created_at=T0)
    did, rkey = post["author"]["did"], post["uri"].rsplit("/", 1)[1]
    check = collector.verify(claim_for(post))
    assert (check.verified, check.deleted, check.problem) == (True, False, None)
    blobs = [i["image"]["ref"]["$link"] for i in post["record"]["embed"]["images"]]
    assert check.image_urls == tuple(f"{fake.base_url}/xrpc/com.atproto.sync.getBlob?did={did.replace(':', '%3A')}"
                                     f"&cid={b}" for b in blobs)
    (resolved,) = [r for r in fake.requests if r.path == f"/{did}"]
    assert resolved.method == "GET", "the PLC directory was asked for the DID document"
    (lookup,) = fake.calls("com.atproto.repo.getRecord")
    assert lookup.query == {"repo": [did], "collection": ["app.bsky.feed.post"], "rkey": [rkey]}
    assert "authorization" not in lookup.headers, "our session is never sent to someone else's PDS"
    assert fake.calls("com.atproto.server.createSession") == [], "asking the origin needs no login"


def test_a_post_its_pds_no_longer_has_is_deleted(fake, collector):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    fake.delete_post(post["uri"])
    check = collector.verify(claim_for(post))
    assert check.deleted and check.problem is None


def test_an_account_whose_did_is_tombstoned_is_deleted(fake, collector):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    fake.tombstoned.add(post["author"]["did"])
    assert collector.verify(claim_for(post)).deleted
    assert fake.calls("com.atproto.repo.getRecord") == []


def test_an_image_that_is_not_one_of_the_records_blobs_is_a_problem(fake, collector):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    other = fake.image_url(post["author"]["did"], cid(images.jpeg(9), 0x55))
    check = collector.verify(claim_for(post, media_urls=(other,)))
    assert check.problem and "not one of the post's images" in check.problem and not check.verified
    elsewhere = fake.image_url("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", post["record"]["embed"]["images"][0]["image"]["ref"]["$link"])
    assert collector.verify(claim_for(post, media_urls=(elsewhere,))).problem, "another account's blob, same CID"


def test_a_record_the_appview_misrepresents_is_a_problem(fake, collector):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    fake.repo_records[post["uri"]] = dict(post["record"], embed={"$type": "app.bsky.embed.external", "external": {
        "uri": "https://example.com/", "title": "", "description": ""}})  # the PDS holds no such image
    assert "not one of the post's images" in collector.verify(claim_for(post)).problem


def test_a_credit_to_another_did_than_the_uris_is_refused_without_asking(fake, collector):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    check = collector.verify(claim_for(post, author_uid="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"))
    assert check.problem and "not to the credited did:plc:aaaaaaaaaaaaaaaaaaaaaaaa" in check.problem
    assert fake.requests == []


def test_a_pds_answering_for_another_record_is_a_problem(fake, collector, monkeypatch):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    other = fake.add_post(images=[images.jpeg(1)], created_at=T0, handle="mallory.bsky.social")
    real = fake._com_atproto_repo_getRecord
    monkeypatch.setattr(fake, "_com_atproto_repo_getRecord",
                        lambda request: real(request)._replace(body=dict(real(request).body, uri=other["uri"])))
    assert "another record" in collector.verify(claim_for(post)).problem


@pytest.mark.parametrize("breakage", ["plc unreachable", "plc unknown", "pds down"])
def test_an_origin_that_cannot_be_asked_leaves_the_post_unverified(fake, collector, breakage):
    post = fake.add_post(images=[images.jpeg(1)], created_at=T0)
    if breakage == "plc unreachable":
        collector.plc_url = "http://10.0.0.1"  # refused by the SSRF guard: nothing is sent
    elif breakage == "plc unknown":
        fake.handles.pop(post["author"]["handle"])
    else:
        fake.fail_next(3, 502, path_prefix="/xrpc/com.atproto.repo.getRecord")
    check = collector.verify(claim_for(post))
    assert (check.verified, check.deleted, check.problem) == (False, False, None)


def test_a_did_web_is_resolved_at_its_own_host():
    seen: list[httpx.Request] = []
    did, blob = "did:web:photos.example.org", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/.well-known/did.json":
            return httpx.Response(200, json={"id": did, "service": [{
                "id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example.net"}]})
        return httpx.Response(200, json={"uri": f"at://{did}/app.bsky.feed.post/3lmkphoheqc27", "cid": "bafyrei", "value": {
            "$type": "app.bsky.feed.post", "text": "#welovebrussels", "createdAt": "2026-11-20T12:00:00Z",
            "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": {
                "$type": "blob", "ref": {"$link": blob}, "mimeType": "image/jpeg", "size": 1}}]}}})

    http = Http(NetworkSettings(), transport=httpx.MockTransport(handler),
                resolve=lambda h, p: [(2, 1, 6, "", ("93.184.215.14", p))])
    claim = OriginClaim(key=f"at://{did}/app.bsky.feed.post/3lmkphoheqc27", remote_id="", url="", author_handle="",
                        author_uid=did, media_urls=(f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{blob}@jpeg",))
    assert verify_post(http, claim).verified
    assert [str(r.url).split("?")[0] for r in seen] == ["https://photos.example.org/.well-known/did.json",
                                                        "https://pds.example.net/xrpc/com.atproto.repo.getRecord"]
