"""Ask a Bluesky post's origin about it: the PDS its DID document names, not the AppView that served it.

A DID names its own PDS: did:plc through the PLC directory (GET https://plc.directory/<did>),
did:web through https://<host>/.well-known/did.json (atproto.com/specs/did). The PDS answers
com.atproto.repo.getRecord without a session, with 400 RecordNotFound once the record is gone
(bluesky-social/atproto packages/pds/src/api/com/atproto/repo/getRecord.ts). The AppView's image
URLs carry the blob's CID: https://cdn.bsky.app/img/feed_fullsize/plain/<did>/<cid>@jpeg
(packages/bsky/src/image/uri.ts), so the record tells us whether our image is the post's.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from core.posts import OriginCheck, OriginClaim
from core.errors import PlatformError
from core.http import Http

PLC_DIRECTORY = "https://plc.directory"
MAX_ANSWER = 1_000_000  # a DID document or a post record is a few kilobytes
_POST_URI = re.compile(r"at://(did:[a-z]+:[A-Za-z0-9._:%-]+)/app\.bsky\.feed\.post/([A-Za-z0-9._:~-]{1,512})")
_PLC = re.compile(r"did:plc:[a-z2-7]{24}")
_WEB = re.compile(r"did:web:([A-Za-z0-9.-]+(?:%3[Aa][0-9]{1,5})?)")  # hostname-level only, as atproto allows
_IMAGE = re.compile(r"/img/[a-z_]+/plain/(did:[a-z]+:[A-Za-z0-9._:%-]+)/([a-z0-9]+)(?:@[a-z]+)?")
_MAX_DEPTH = 8


class Unreachable(Exception):
    """The origin could not be asked (network, an unreadable answer): nothing is known."""


def did_document_url(did: str, plc_url: str = PLC_DIRECTORY) -> str:
    """Where the DID document of `did` is published."""
    if _PLC.fullmatch(did):
        return f"{plc_url.rstrip('/')}/{did}"
    web = _WEB.fullmatch(did)
    if web:
        return f"https://{web.group(1).replace('%3A', ':').replace('%3a', ':')}/.well-known/did.json"
    raise Unreachable(f"{did!r} is not a DID wlb can resolve (did:plc or did:web)")


def pds_endpoint(document: object, did: str) -> str | None:
    """The #atproto_pds service endpoint of a DID document that is about `did`, or None."""
    if not isinstance(document, dict) or document.get("id") != did or not isinstance(document.get("service"), list):
        return None
    for service in document["service"][:64]:
        if (isinstance(service, dict) and service.get("id") in ("#atproto_pds", f"{did}#atproto_pds")
                and service.get("type") == "AtprotoPersonalDataServer"):
            endpoint = service.get("serviceEndpoint")
            if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")) and len(endpoint) < 2048:
                return endpoint.rstrip("/")
    return None


def blob_cids(value: object, depth: int = 0) -> list[str]:
    """The CIDs of the blobs a record's embed references, in order, whatever its embed type (images, gallery...)."""
    if depth > _MAX_DEPTH:
        return []
    if isinstance(value, list):
        return [c for v in value[:64] for c in blob_cids(v, depth + 1)]
    if not isinstance(value, dict):
        return []
    if value.get("$type") == "blob":
        link = value["ref"].get("$link") if isinstance(value.get("ref"), dict) else None
        return [link] if isinstance(link, str) else []
    if isinstance(value.get("cid"), str) and isinstance(value.get("mimeType"), str):
        return [value["cid"]]  # the legacy blob form (atproto.com/specs/data-model, "legacy" blobs)
    # A quoted post's images are its author's: the strong ref under "record" carries none anyway.
    return [c for k, v in value.items() if k != "record" for c in blob_cids(v, depth + 1)]


def image_cid(url: str) -> tuple[str, str] | None:
    """(did, cid) from an AppView image URL, or None if it is not one."""
    try:
        path = httpx.URL(url).path
    except (httpx.InvalidURL, TypeError):
        return None
    found = _IMAGE.fullmatch(path)
    return (found.group(1), found.group(2)) if found else None


def _get(http: Http, url: str, params: dict | None = None) -> tuple[int, Any]:
    """GET a JSON answer: (status, body or None)."""
    try:  # a 2xx body cut short is retried by Http like a 5xx (issue 7); a non-2xx one that is not JSON is None
        response, body = http.request_json("GET", url, params=params, headers={"Accept": "application/json"},
                                           max_bytes=MAX_ANSWER)
    except PlatformError as exc:
        raise Unreachable(str(exc)) from None
    return response.status_code, body


def fetch_record(http: Http, did: str, rkey: str, plc_url: str) -> tuple[str, Any] | None:
    """(PDS endpoint, getRecord's answer) for the post, or None if its PDS says there is no such record."""
    status, document = _get(http, did_document_url(did, plc_url))
    if status == 410:  # the PLC directory's answer for a tombstoned (deleted) DID
        return None
    pds = pds_endpoint(document, did) if status == 200 else None
    if pds is None:
        raise Unreachable(f"no PDS for {did} (its DID document answered {status})")
    status, body = _get(http, f"{pds}/xrpc/com.atproto.repo.getRecord",
                        {"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey})
    if status == 400 and isinstance(body, dict) and body.get("error") == "RecordNotFound":
        return None
    if status != 200 or not isinstance(body, dict):
        raise Unreachable(f"{pds} answered getRecord with {status}")
    return pds, body


def verify_post(http: Http, claim: OriginClaim, *, plc_url: str = PLC_DIRECTORY) -> OriginCheck:
    """Ask the post's PDS whether it exists, is the author's, and holds the images we stored."""
    found = _POST_URI.fullmatch(claim.key or "")
    if not found:
        return OriginCheck(problem="the stored key is not the at:// uri of a Bluesky post")
    did, rkey = found.groups()
    if claim.author_uid and claim.author_uid != did:
        return OriginCheck(problem=f"the post belongs to {did}, not to the credited {claim.author_uid}")
    try:
        answer = fetch_record(http, did, rkey, plc_url)
    except Unreachable:
        return OriginCheck(verified=False)
    if answer is None:
        return OriginCheck(deleted=True)
    pds, body = answer
    served = _POST_URI.fullmatch(body.get("uri") or "") if isinstance(body.get("uri"), str) else None
    value = body.get("value")
    if not served or served.groups() != (did, rkey):
        return OriginCheck(problem=f"the author's PDS answered for another record ({str(body.get('uri'))[:120]!r})")
    if not isinstance(value, dict) or value.get("$type") != "app.bsky.feed.post":
        return OriginCheck(problem="the record at the post's uri is not a post")
    cids = blob_cids(value.get("embed"))
    for url in claim.media_urls:
        located = image_cid(url)
        if located is None or located[0] != did or located[1] not in cids:
            return OriginCheck(problem="an image we stored is not one of the post's images at the author's PDS")
    urls = tuple(str(httpx.URL(f"{pds}/xrpc/com.atproto.sync.getBlob", params={"did": did, "cid": c}))
                 for c in dict.fromkeys(cids))
    return OriginCheck(verified=True, image_urls=urls)
