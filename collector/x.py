"""X recent search: #tag photos of the last 7 days → normalized posts, within a monthly read budget.

GET /2/tweets/search/recent reaches 7 days back only, newest first, paged by next_token. Every post it returns
costs money (pay-per-use: "Posts: Read $0.005 per resource", and $0.010 per user, docs.x.com/x-api/
getting-started/pricing), so each page is paid for before it is asked: a page that could take the month's spend
past `monthly_budget` is not asked, and the channel says so as a warning. The month's spend lives in the
watermark, so no table is needed: it starts again at 0 with each calendar month (UTC).

A walk goes from the newest post back to the stored newest id (since_id). Each page's watermark remembers where
the walk stands (until_id: the oldest id reached), so an interrupted run resumes without a gap, and only a
finished walk moves since_id up to the newest id it saw.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import NamedTuple

from core import watermark
from core.errors import ConfigError, NotFound, PlatformError
from core.http import Http
from core.posts import AuthorData, MediaData, OriginCheck, OriginClaim, Page, PostData, page_of, parse_each
from core.settings import ChannelSettings, Settings
from platforms.x import NUMERIC_ID, USERNAME, XAPI, api_for, post_url, snowflake_time

REACH = timedelta(days=7) - timedelta(minutes=10)  # recent search's window, less a margin for clocks
MAX_RESULTS = (10, 100)  # the endpoint's bounds for max_results
MICRO = 1_000_000  # spend is kept in micro-dollars: the watermark holds integers only
UNDETERMINED = {"und", "qam", "qct", "qht", "qme", "qst", "zxx"}  # X's lang codes for "no language"


class Mark(NamedTuple):
    """Where collection stands: the newest id of the last finished walk, an unfinished walk, the month's spend."""

    since: str | None = None  # every post up to this id is stored
    until: str | None = None  # an unfinished walk reached back to this id (exclusive) ...
    top: str | None = None  # ... from this newest id, which becomes `since` once the walk is done
    month: str | None = None  # "2026-12": the month `spent` counts
    spent: int = 0  # estimated micro-dollars of reads this month, for this hashtag
    posts: int = 0  # posts X returned this month, for this hashtag

    def encode(self) -> str | None:
        return watermark.encode(self)

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        mark = watermark.decode(cls, value)  # X came after the one encoding: no older format to read
        # Typed by the encoding; ids sent back to X must also be ids: anything else is a fresh start.
        return mark if all(v is None or NUMERIC_ID.fullmatch(v) for v in mark[:3]) else cls()


def _text(tweet: dict) -> str:
    """The post's text with its own links expanded and the trailing link to its photos dropped."""
    text = html.unescape(tweet.get("text") if isinstance(tweet.get("text"), str) else "")  # v2 escapes &, <, >
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    for url in entities.get("urls") or []:
        if not isinstance(url, dict) or not isinstance(url.get("url"), str):
            continue
        expanded = url.get("expanded_url") if isinstance(url.get("expanded_url"), str) else ""
        shows = str(url.get("display_url") or "")
        media = url.get("media_key") or shows.startswith(("pic.x.com", "pic.twitter.com"))
        text = text.replace(url["url"], "" if media else expanded if expanded.startswith("https://") else url["url"])
    return text.strip()


def parse_tweet(tweet: dict, users: dict[str, dict], media: dict[str, dict]) -> tuple[PostData | None, str | None]:
    """A search result and its expansions → (post, None), or (None, why skipped). Strict on identity."""
    post_id, author_id = str(tweet.get("id") or ""), str(tweet.get("author_id") or "")
    if not NUMERIC_ID.fullmatch(post_id) or not NUMERIC_ID.fullmatch(author_id):
        return None, "malformed (no valid id and author id)"
    user = users.get(author_id) or {}
    username = user.get("username")
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        return None, "malformed (author not in the answer's users)"
    try:
        created = datetime.fromisoformat(str(tweet["created_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None, "malformed (no creation date)"
    attachments = tweet.get("attachments") if isinstance(tweet.get("attachments"), dict) else {}
    attached = [media.get(key) for key in attachments.get("media_keys") or [] if isinstance(key, str)]
    attached = [m for m in attached if isinstance(m, dict)]
    photos = [m for m in attached if m.get("type") == "photo" and isinstance(m.get("url"), str)
              and m["url"].startswith(("https://", "http://")) and len(m["url"]) <= 2048]
    if not photos:
        return None, "video or animated GIF only" if any(m.get("type") in ("video", "animated_gif") for m in attached) \
            else "no photo"
    images = tuple(MediaData(url=m["url"], alt_text=m["alt_text"] if isinstance(m.get("alt_text"), str) else None,
                             width=_int(m.get("width")), height=_int(m.get("height"))) for m in photos)
    name = user.get("name") if isinstance(user.get("name"), str) and user["name"].strip() else username
    lang = tweet.get("lang") if isinstance(tweet.get("lang"), str) and tweet["lang"] not in UNDETERMINED else None
    author = AuthorData(handle=username, name=name, profile_url=f"https://x.com/{username}", network="x", uid=author_id)
    return PostData(key=f"x:{post_id}", remote_id=post_id, url=post_url(username, post_id), author=author,
                    created_at=created, text=_text(tweet), language=lang, sensitive=tweet.get("possibly_sensitive") is True,
                    media=images), None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _by(items: object, key: str) -> dict[str, dict]:
    return {str(i[key]): i for i in items if isinstance(i, dict) and key in i} if isinstance(items, list) else {}


def dollars(micros: int) -> str:
    return f"${micros / MICRO:,.2f}"


class XCollector:
    """Pages recent search for one hashtag down to the stored newest id, paying for each page before asking it."""

    def __init__(self, api: XAPI, *, per_page: int = 40, backfill_pages: int = 5, budget: float = 5.0,
                 post_cost: float = 0.005, user_cost: float = 0.010, hashtags: int = 1,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.api = api
        self.per_page = min(max(per_page, MAX_RESULTS[0]), MAX_RESULTS[1])
        self.backfill_pages = backfill_pages
        # Each hashtag's cursor keeps its own spend: the channel's budget is shared equally, so together they
        # never pass it.
        self.budget = round(budget * MICRO) // max(hashtags, 1)
        self.post_cost, self.user_cost = round(post_cost * MICRO), round(user_cost * MICRO)
        self.clock = clock

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        now = self.clock()
        month = now.strftime("%Y-%m")
        mark = Mark.decode(watermark)
        if mark.month != month:
            mark = mark._replace(month=month, spent=0, posts=0)
        fresh = now - REACH
        # X answers 400 invalid-request to a since_id older than its 7 days (github.com/rooteco/tweetscape
        # issues/421); past it, everything it can still give is wanted.
        since = mark.since if mark.since and (snowflake_time(mark.since) or now) > fresh else None
        until, top = (mark.until, mark.top) if mark.until and (snowflake_time(mark.until) or now) > fresh else (None, None)
        if mark.until and until is None:  # what the unfinished walk had left is out of reach now
            since = mark.top if (snowflake_time(mark.top or "") or now) > fresh else since
        first_run, token, count = mark.since is None and mark.until is None, None, 0
        query = f"#{hashtag} has:images -is:retweet"
        while True:
            worst = self.per_page * (self.post_cost + self.user_cost)  # every post by another author
            if mark.spent + worst > self.budget:
                yield Page(posts=[], watermark=mark.encode(), fetched=0, requests=0, warnings=[
                    f"#{hashtag}: X reads stopped: {dollars(mark.spent)} spent this month ({mark.posts:,} posts) of "
                    f"this hashtag's "
                    f"{dollars(self.budget)} (monthly_budget), and the next page could cost {dollars(worst)}; "
                    f"the rest waits for next month or a larger budget"])
                return
            body = self.api.search_recent(query, max_results=self.per_page, since_id=since, until_id=until,
                                          next_token=token)
            count += 1
            tweets = [t for t in body.get("data") or [] if isinstance(t, dict)] if isinstance(body.get("data"), list) else []
            includes = body.get("includes") if isinstance(body.get("includes"), dict) else {}
            users, media = _by(includes.get("users"), "id"), _by(includes.get("media"), "media_key")
            cost = len(tweets) * self.post_cost + len(users) * self.user_cost
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            ids = [str(t.get("id")) for t in tweets if NUMERIC_ID.fullmatch(str(t.get("id") or ""))]
            top = top or max(ids, key=int, default=None)
            token = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
            done = not token or not ids or (first_run and count >= self.backfill_pages)
            mark = mark._replace(spent=mark.spent + cost, posts=mark.posts + len(tweets))
            if done:
                mark = mark._replace(since=top or mark.since, until=None, top=None)
            else:
                mark = mark._replace(until=min(ids, key=int), top=top)
            page = page_of(parse_each(tweets, partial(parse_tweet, users=users, media=media)), watermark=mark.encode(),
                           fetched=len(tweets))
            page.cost = cost / MICRO
            yield page
            if done:
                return

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Ask X for the post (GET /2/tweets?ids=): deleted, someone else's, or confirmed."""
        if not NUMERIC_ID.fullmatch(claim.remote_id) or claim.key != f"x:{claim.remote_id}":
            return OriginCheck(problem="the stored key is not an X post id")
        try:
            body = self.api.lookup(claim.remote_id)
        except NotFound:
            return OriginCheck(deleted=True)
        except PlatformError:
            return OriginCheck(verified=False)
        found = [t for t in body.get("data") or [] if isinstance(t, dict) and str(t.get("id")) == claim.remote_id] \
            if isinstance(body.get("data"), list) else []
        if not found:
            gone = any(isinstance(e, dict) and str(e.get("type", "")).endswith("resource-not-found")
                       for e in body.get("errors") or [])
            return OriginCheck(deleted=True) if gone else OriginCheck(verified=False)
        if claim.author_uid and str(found[0].get("author_id")) != claim.author_uid:
            return OriginCheck(problem=f"X says post {claim.remote_id} is by {found[0].get('author_id')}, "
                                       f"not by {claim.author_uid}")
        # X is one origin, not a federation: our images came from its own answer, there is no other copy to compare.
        return OriginCheck(verified=True)


def build(channel: ChannelSettings, settings: Settings, http: Http) -> XCollector:
    """The collector for a `kind = "x"` channel: the token in token_env, the budget from the channel's settings."""
    if not channel.token():
        raise ConfigError(f"an x channel needs a token: set token_env and export ${channel.token_env or 'WLB_X_TOKEN'} "
                          f"(README: X)")
    return XCollector(api_for(channel, settings, http),
                      per_page=settings.collect.page_size, backfill_pages=settings.collect.backfill_pages,
                      budget=channel.monthly_budget, post_cost=channel.post_read_cost, user_cost=channel.user_read_cost,
                      hashtags=len(channel.hashtags or settings.hashtags))
