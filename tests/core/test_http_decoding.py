"""Content-Encoding: our own bounded gzip/deflate decoding, and the response handed back once decoded."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import httpx
import pytest

from core.http import DECODE_STEP, HttpError, TooLarge
from tests.core.test_http import API, Server, make
from tests.core.test_http_bounds import BOMB

DATA = [{"id": str(n), "content": "<p>Grand-Place</p>"} for n in range(300)]
BODY = json.dumps(DATA).encode()


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def streamed(body: bytes, encoding: str, piece: int = 1000):
    """A server answering with the body in pieces (as a network would), under the given Content-Encoding."""
    def answer(request):
        return httpx.Response(200, headers={"Content-Encoding": encoding, "Content-Type": "application/json",
                                            "Content-Length": str(len(body))},
                              content=iter([body[at:at + piece] for at in range(0, len(body), piece)]))
    return Server(answer)


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", gzip.compress(BODY)),
    ("x-gzip", gzip.compress(BODY)),
    ("deflate", zlib.compress(BODY)),
    ("deflate", raw_deflate(BODY)),  # what some servers call deflate
    ("gzip, deflate", zlib.compress(gzip.compress(BODY))),  # applied in order, undone last first
    ("identity", BODY),
    ("", BODY),
], ids=["gzip", "x-gzip", "zlib-deflate", "raw-deflate", "gzip-then-deflate", "identity", "none"])
def test_encoded_answers_are_decoded(encoding, body):
    http, _ = make(streamed(body, encoding))
    response, data = http.request_json("GET", API)
    assert data == DATA and response.json() == DATA and response.text == BODY.decode()


def test_a_decoded_response_no_longer_claims_its_encoding():
    compressed = gzip.compress(BODY)
    http, _ = make(streamed(compressed, "gzip"))
    response = http.request("GET", API)
    assert "content-encoding" not in response.headers, "httpx would decode it a second time"
    assert response.headers["content-length"] == str(len(BODY)) != str(len(compressed))
    assert response.headers["content-type"] == "application/json"
    assert (response.status_code, response.reason_phrase, str(response.url)) == (200, "OK", API)
    assert response.content == BODY and response.elapsed.total_seconds() >= 0


def test_an_unencoded_response_keeps_its_headers():
    http, _ = make(Server(lambda r: httpx.Response(200, headers={"Content-Encoding": "identity", "X-Id": "7"},
                                                   content=iter([b"plain"]))))
    response = http.request("GET", API)
    assert response.headers["content-encoding"] == "identity" and response.headers["x-id"] == "7"
    assert response.content == b"plain"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_corrupt_body_is_an_http_error_naming_the_problem(encoding):
    server = streamed(b"\x1f\x8b\x08\x00 definitely not compressed", encoding)
    http, _ = make(server, retries=3)
    with pytest.raises(HttpError, match=rf"cannot be decoded \({encoding}: Error -3"):
        http.request("GET", API)
    assert len(server.requests) == 1, "a broken body is not retried"


def test_a_bomb_inside_a_second_encoding_is_stopped_early_too():
    wrapped = zlib.compress(BOMB)  # deflate(gzip(64 MB of zeros))
    pulled: list[int] = []

    def body():
        for at in range(0, len(wrapped), 1024):
            pulled.append(at)
            yield wrapped[at:at + 1024]

    http, _ = make(Server(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip, deflate"},
                                                   content=body())), max_api_bytes=1_000_000)
    with pytest.raises(TooLarge, match="larger than 1000000 bytes"):
        http.get_json(API)
    assert len(pulled) * 1024 < 16 * 1024, "stopped a few kilobytes into a 280 KB double-wrapped bomb"


def test_one_network_read_is_not_expanded_in_one_go():
    """A 280 KB read of a 64 MB bomb: decoding stops a step past the limit, without holding 64 MB at once."""
    http, _ = make(Server(lambda r: httpx.Response(200, headers={"Content-Encoding": "gzip"},
                                                   content=iter([BOMB]))), max_api_bytes=DECODE_STEP)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            http.get_json(API)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * DECODE_STEP + 2 * len(BOMB), f"{peak} bytes held while decoding"
