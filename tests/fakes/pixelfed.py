"""Pixelfed's side of the fake (FakeMastodon(flavor="pixelfed")): ids, entity shapes and the tag timeline.

Modelled on pixelfed/pixelfed at 8aae92d75b4881e5cd6a4e2c83ca52046e5b3d66 (2024-03-10):
- app/Http/Controllers/Api/ApiV1Controller.php  timelineHashtag, statusById
- app/Services/SnowflakeService.php             ids: ((ms - 1549756800000) << 22) | worker bits | sequence
- app/Transformer/Api/StatusStatelessTransformer.php, MediaTransformer.php, AccountTransformer.php  shapes
- app/Status.php url(): a local status's uri and url are both APP_URL/p/USERNAME/ID; a remote one's are its uri
- app/Profile.php url(): a local profile is APP_URL/USERNAME
Facts only; no code was copied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tests.fakes.server import Recorded, Reply

if TYPE_CHECKING:
    from tests.fakes.mastodon import FakeMastodon

EPOCH_MS = 1_549_756_800_000
_WORKER = (1 << 17) | (1 << 12)  # SnowflakeService draws these bits at random; fixed here for readable ids


def snowflake(moment: datetime, sequence: int = 0) -> int:
    """A Pixelfed id minted at `moment`."""
    return ((round(moment.timestamp() * 1000) - EPOCH_MS) << 22) | _WORKER | (sequence & 0xFFF)


def months_before(moment: datetime, months: int) -> datetime:
    """Carbon's subMonths(): same day `months` earlier, clamped to the end of a shorter month."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    nxt = datetime(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last = (nxt - timedelta(days=1)).day
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last))


def laravel_boolean(values: list[str] | None, default: bool) -> bool:
    """$request->boolean(): "1", "true", "on", "yes" are true; anything else given is false."""
    if not values:
        return default
    return values[0].strip().lower() in ("1", "true", "on", "yes")


def _invalid(field: str, rule: str) -> Reply:
    return Reply(422, {"message": f"The {field} must be {rule}.", "errors": {field: [f"The {field} must be {rule}."]}})


def timeline_hashtag(fake: FakeMastodon, req: Recorded, tag: str) -> Reply:
    """GET /api/v1/timelines/tag/:tag as ApiV1Controller::timelineHashtag answers it."""
    if denied := fake._auth(req, always=True, denied=403):  # abort_if(! $request->user() ...), 403
        return denied
    one = {k: (v or [""])[0] for k, v in req.query.items()}
    for name in ("min_id", "max_id"):
        if one.get(name) and not one[name].isdigit():
            return _invalid(name, "an integer")
    if "limit" in one and (not one["limit"].isdigit() or int(one["limit"]) < 1):
        return _invalid("limit", "at least 1")
    if tag.lower() not in fake.known_tags() or tag.lower() in fake.banned_tags:
        return Reply(200, [])
    low, high = int(one.get("min_id") or 0), int(one.get("max_id") or 0)
    limit = min(int(one.get("limit") or 20), 40)
    only_media = laravel_boolean(req.query.get("only_media"), True)
    if low or high:  # SnowflakeService::byDate(now()->subMonths(6)): older cursors get []
        edge = snowflake(months_before(fake.clock(), 6))
        if (low and low < edge) or (high and high < edge):
            return Reply(200, [])
    # No cursor: id > 1. Otherwise min_id wins: id > min_id; else id < max_id. Newest first, 100 rows, THEN filter.
    if low or not high:
        rows = [s for s in fake.tagged(tag) if int(s["id"]) > (low or 1)]
    else:
        rows = [s for s in fake.tagged(tag) if int(s["id"]) < high]
    rows = [s for s in rows if s.get("visibility") in ("public", "private", "unlisted")]
    rows = sorted(rows, key=lambda s: int(s["id"]), reverse=True)[:100]
    shown = [s for s in rows if _passes(fake, s, only_media)]
    shown = [s for s in shown if s["account"].get("acct") not in fake.filtered_accounts
             and (urlsplit(str(s["url"])).hostname or "").lower() not in fake.domain_blocks]
    if fake.hide_sensitive:  # not in 8aae92d7; issue 7 reports newer versions leaving sensitive posts out
        shown = [s for s in shown if not s["sensitive"]]
    return Reply(200, shown[:limit])  # no Link header, ever


def _passes(fake: FakeMastodon, status: dict, only_media: bool) -> bool:
    """The first filter: visibility for the token's user, then only_media (a followed private post skips it)."""
    account = status.get("account")
    if not isinstance(account, dict) or "id" not in account:
        return False
    mine = account["id"] == fake.own_account_id
    if status["visibility"] == "unlisted" and not mine:
        return False
    if status["visibility"] == "private" and not mine:
        return account.get("acct") in fake.following  # returns here: only_media is not checked
    if only_media and not status.get("media_attachments"):
        return False
    return bool(status.get("url"))


def shape_status(status: dict, fake: FakeMastodon, remote: bool) -> dict:
    """Pixelfed's status fields: uri = url (APP_URL/p/USER/ID locally), no language, pf_type, reply_count."""
    user = status["account"]["username"]
    if not remote:
        status["uri"] = status["url"] = f"{fake.web}/p/{user}/{status['id']}"
    else:
        status["url"] = status["uri"]  # Status::url() is the remote uri
    status.update(language=None, pf_type="photo" if status["media_attachments"] else "text",
                  reply_count=0, shortcode=None, local=not remote, application={"name": "web", "website": None})
    status["replies_count"] = status["reply_count"]
    for media in status["media_attachments"]:
        media.update(optimized_url=media["url"], license=None, is_nsfw=status["sensitive"], orientation=None,
                     filter_name=None, filter_class=None, mime="image/jpeg")
        original = (media.get("meta") or {}).get("original")
        media["meta"] = {"focus": {"x": 0, "y": 0}, "original": original} if original else None
    return status


def shape_account(account: dict, fake: FakeMastodon, remote: bool) -> dict:
    """A local Pixelfed profile lives at APP_URL/USERNAME (Profile::url)."""
    if not remote:
        account["url"] = f"{fake.web}/{account['username']}"
        account["uri"] = f"{fake.web}/users/{account['username']}"
    account.update(local=not remote, header_bg=None, is_admin=False, pronouns=[], location=None, website=None)
    return account


def status_by_id(fake: FakeMastodon, req: Recorded, sid: str) -> Reply:
    """GET /api/v1/statuses/:id (statusById): token with read scope, public/unlisted, followed private."""
    if denied := fake._auth(req, always=True, denied=403):
        return denied
    status = fake.stored(sid)
    if status is None:
        return Reply(404, {"error": "Record not found"})
    if status["visibility"] == "private" and status["account"]["acct"] not in fake.following:
        return Reply(403, {"error": "This action is unauthorized."})
    if status["visibility"] == "direct":
        return Reply(400, {"error": "Invalid request"})
    return Reply(200, status)


def now() -> datetime:
    return datetime.now(UTC)


# Pixelfed bios with opt-out hashtags, as FakeMastodon(flavor="pixelfed").account_fields[acct] serves them.
# Origins (pixelfed/pixelfed at 8aae92d7): app/Transformer/Api/AccountTransformer.php (`note` is the bio,
# `note_text` strip_tags of it, `discoverable` always true, no noindex/indexable); app/Http/Controllers/Settings/
# HomeSettings.php (the bio is Autolink::create()->autolink(...)); app/Util/Lexer/Autolink.php linkToHashtag
# (href APP_URL/discover/tags/TAG?src=hash, title "#TAG", class "u-url hashtag").
def bio(text: str, *tags: str, app_url: str = "https://pix.example") -> dict:
    """A Pixelfed account's note and note_text for a bio that ends with these hashtags."""
    links = "".join(f' <a href="{app_url}/discover/tags/{t}?src=hash" title="#{t}" class="u-url hashtag" '
                    f'rel="external nofollow noopener">#{t}</a>' for t in tags)
    return {"note": f"{text}{links}", "note_text": " ".join([text, *(f"#{t}" for t in tags)])}


SIGNAL_ACCOUNTS = {
    "nobot": bio("Film photos of Brussels.", "nobot"),
    "noindex_tag": bio("Analog only", "NoIndex"),
    "nobotanist": bio("Greenhouses of Laeken", "nobotanist"),
}
