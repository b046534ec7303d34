"""Self-tests of the hostile fake: each mode really sends what its docstring says."""

from __future__ import annotations

import json
import zlib
from datetime import datetime

import httpx
import pytest

from tests.fakes.hostile import ATTACKS, HostileMastodon

TIMELINE = "/api/v1/timelines/tag/welovebrussels"


def _get_raw(fake: HostileMastodon, path: str = TIMELINE, **params) -> tuple[httpx.Response, bytes]:
    """The answer's bytes exactly as they came off the wire, nothing decoded."""
    with httpx.Client(base_url=fake.base_url) as client, client.stream("GET", path, params=params) as response:
        return response, b"".join(response.iter_raw())


def test_terminal_attack_puts_escapes_and_markup_in_every_text_field():
    with HostileMastodon() as fake:
        fake.add_terminal_attack()
        (status,) = httpx.get(fake.base_url + TIMELINE).json()
    fields = {"display_name": status["account"]["display_name"], "acct": status["account"]["acct"],
              "content": status["content"], "spoiler_text": status["spoiler_text"],
              "description": status["media_attachments"][0]["description"], "url": status["url"]}
    for name, value in fields.items():
        assert "\x1b" in value or "\x9b" in value, name
        assert "[" in value and "]" in value, name
    assert fields["url"].endswith(ATTACKS["url"]) and status["uri"].startswith("https://hostile.example/users/mallory/")
    assert status["media_attachments"][0]["url"].startswith(fake.base_url)


def test_forged_status_claims_another_domain_and_links_to_a_phishing_page():
    with HostileMastodon() as fake:
        fake.add_forged()
        (status,) = httpx.get(fake.base_url + TIMELINE).json()
    assert status["account"]["acct"] == "alice@real.example"
    assert status["account"]["url"] == "https://real.example/@alice"
    assert status["uri"] == f"https://real.example/users/alice/statuses/{status['id']}"
    assert status["url"].startswith("https://phish.example/")
    assert datetime.fromisoformat(status["created_at"]).year == 2001


def test_wrong_types_one_status_each():
    with HostileMastodon() as fake:
        bad = fake.add_wrong_types()
        served = {s["id"]: s for s in httpx.get(fake.base_url + TIMELINE).json()}
    assert isinstance(served[bad["content"]["id"]]["content"], list)
    assert isinstance(served[bad["meta"]["id"]]["media_attachments"][0]["meta"], list)
    assert isinstance(served[bad["description"]["id"]]["media_attachments"][0]["description"], dict)
    assert isinstance(served[bad["uri"]["id"]]["uri"], dict)


def test_deep_body_is_100000_nested_arrays():
    with HostileMastodon(mode="deep") as fake:
        response, body = _get_raw(fake)
    assert int(response.headers["content-length"]) == len(body) == 200_000
    assert body == b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(body)


@pytest.mark.parametrize("declare_length", [True, False])
def test_huge_body_is_one_valid_status_of_the_given_size(declare_length):
    with HostileMastodon(mode="huge", huge_bytes=3 << 20, declare_length=declare_length) as fake:
        fake.add_status(text="padded")
        response, body = _get_raw(fake)
    assert len(body) == 3 << 20
    assert response.headers.get("content-length") == (str(3 << 20) if declare_length else None)
    (status,) = json.loads(body)
    assert status["content"].startswith("<p>AAAA") and len(status["content"]) > 3_000_000


def test_gzip_bomb_is_small_on_the_wire_and_decompresses_to_its_size():
    size = (64 << 20) + 3  # whole MiBs and a remainder
    with HostileMastodon(mode="gzip_bomb", bomb_bytes=size) as fake:
        response, body = _get_raw(fake)
    assert response.headers["content-encoding"] == "gzip" and int(response.headers["content-length"]) == len(body)
    assert len(body) < size // 900  # deflate's best is about 1:1032; 1 GiB is about 1 MB
    inflater, total, first = zlib.decompressobj(31), 0, b""
    for n in range(0, len(body), 4096):
        part = inflater.decompress(body[n:n + 4096])
        first, total = first or part, total + len(part)
    assert total == size and first.startswith(b"[   ") and inflater.eof


def test_drip_sends_one_byte_per_interval():
    sleeps: list[float] = []
    with HostileMastodon(mode="drip", drip_interval=1.0, sleep=sleeps.append) as fake:
        fake.add_status(text="slow")
        response, body = _get_raw(fake)
    assert int(response.headers["content-length"]) == len(body) and json.loads(body)[0]["id"]
    assert fake.dripped == [body[n:n + 1] for n in range(len(body))]
    assert sleeps == [1.0] * (len(body) - 1)


def test_endless_answers_ever_newer_full_pages():
    with HostileMastodon(mode="endless") as fake, httpx.Client() as client:
        url, newest = fake.base_url + TIMELINE + "?limit=40", 0
        for _ in range(3):
            response = client.get(url)
            ids = [int(s["id"]) for s in response.json()]
            assert len(ids) == 40 and ids == sorted(ids, reverse=True) and min(ids) > newest
            newest, url = ids[0], response.links["prev"]["url"]
            assert f"min_id={ids[0]}" in url
