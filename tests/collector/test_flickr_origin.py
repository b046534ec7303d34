"""Flickr's verify(): flickr.photos.getInfo is the origin; it confirms the owner, or says the photo is gone."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from core.posts import OriginClaim
from collector.flickr import FlickrCollector
from tests.collector.test_flickr import SMALL, api, recorded_api, sent
from tests.fakes.flickr import API_KEY, FakeFlickr

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def flickr():
    with FakeFlickr() as fake:
        yield fake


def claim_for(record: dict, **changes) -> OriginClaim:
    """What the collector stored for a search record, as publish hands it to verify()."""
    fields = dict(key=f"flickr:{record['id']}", remote_id=record["id"], url="https://www.flickr.com/photos/x/1/",
                  author_handle=record["pathalias"], author_uid=record["owner"],
                  media_urls=tuple(record[k] for k in ("url_o", "url_l") if k in record))
    return OriginClaim(**(fields | changes))


def test_getinfo_confirms_the_owner(flickr):
    record = flickr.add_photo(SMALL, uploaded=T0, owner="30884892@N08", pathalias="coast_guard")
    check = FlickrCollector(api(flickr)).verify(claim_for(record))
    assert (check.verified, check.deleted, check.problem) == (True, False, None)
    assert check.image_urls == (), "one origin: the stored images came from Flickr's own answer"
    assert [(q["method"], q["photo_id"], q["api_key"]) for q in sent(flickr)] == [
        ("flickr.photos.getInfo", record["id"], API_KEY)]


def test_code_1_means_deleted(flickr):
    record = flickr.add_photo(SMALL, uploaded=T0)
    flickr.delete_photo(record["id"])
    check = FlickrCollector(api(flickr)).verify(claim_for(record))
    assert check.deleted and check.problem is None


def test_another_owner_or_another_photos_file_is_a_problem(flickr):
    record = flickr.add_photo(SMALL, uploaded=T0, owner="30884892@N08")
    collector = FlickrCollector(api(flickr))
    check = collector.verify(claim_for(record, author_uid="12345678@N01"))
    assert "is by 30884892@N08, not by 12345678@N01" in check.problem and not check.verified
    other = flickr.add_photo(SMALL, uploaded=T0, owner="30884892@N08")
    check = collector.verify(claim_for(record, media_urls=(other["url_l"],)))
    assert "not a file of Flickr photo" in check.problem


@pytest.mark.parametrize("failure", [(105, "Service currently unavailable"), (100, "Invalid API Key")])
def test_a_flickr_that_cannot_answer_leaves_the_photo_unverified(flickr, failure):
    record = flickr.add_photo(SMALL, uploaded=T0)
    flickr.fail_next_call(*failure)
    check = FlickrCollector(api(flickr)).verify(claim_for(record))
    assert (check.verified, check.deleted, check.problem) == (False, False, None)


def test_recorded_getinfo_answers():
    seen: list[httpx.Request] = []
    claim = OriginClaim(key="flickr:32812033543", remote_id="32812033543", url="", author_handle="coast_guard",
                        author_uid="30884892@N08",
                        media_urls=("https://live.staticflickr.com/2903/32812033543_04e9bcc8a2_k.jpg",))
    found = FlickrCollector(recorded_api(seen, **{"flickr.photos.getInfo": "getinfo_32812033543.json"}))
    assert found.verify(claim).verified
    gone = FlickrCollector(recorded_api(seen, **{"flickr.photos.getInfo": "getinfo_not_found.json"}))
    assert gone.verify(claim).deleted
    assert [r.url.params["photo_id"] for r in seen] == ["32812033543", "32812033543"]
