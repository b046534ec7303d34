"""X publisher: POST /2/media/upload per image, POST /2/media/metadata for its alt text, then POST /2/tweets.

X has no idempotency key. The publication row is committed before the call (publisher/claim.py), POST /2/tweets
is never retried blindly (platforms/x.py), and after a crash or a lost answer `find_existing` looks at our own
latest posts for one with the same text and as many images before anything is posted again.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import timedelta

from core.http import Http
from core.settings import ChannelSettings, Settings
from core.errors import PlatformError
from platforms.x import NUMERIC_ID, USERNAME, XAPI, DuplicatePost, api_for, post_url
from publisher.base import PublishRequest, Published
from publisher.credit import _BARE_DOMAIN, Limits, x_length

# One place for what X accepts: 280 weighted characters for accounts without Premium, links 23
# (twitter-text config/v3.json), 1-4 images per post (TweetCreateRequest.media.media_ids maxItems 4), images of at
# most 5 MB (third-party client docs; X's own page is not in the OpenAPI document, so: unverified). X shows
# photos at up to 4096 px on the long side (unverified): 16 Mpx keeps them whole.
LIMITS = Limits(max_chars=280, max_media=4, url_chars=23, length=x_length, max_image_bytes=5_000_000,
                max_image_pixels=4096 * 4096)
LOOK_BACK = timedelta(minutes=10)  # own posts older than the planned publication (clock skew) are not ours
_LINK = re.compile(r"https?://\S+")


def comparable(text: str) -> str:
    """Text as X gives it back and as we sent it, made comparable: entities unescaped, links and bare domains
    dropped (X turns them into t.co links and appends one for the photos), spacing collapsed."""
    text = _LINK.sub(" ", html.unescape(unicodedata.normalize("NFC", text)))
    # X also links a bare domain ("alice.bsky.social", a Bluesky author's credit) and gives it back as t.co.
    text = _BARE_DOMAIN.sub(" ", text)
    return " ".join(text.split())


class XPublisher:
    """Reposts to the community's X account with a user-context token."""

    network = "x"

    def __init__(self, api: XAPI, *, link_original: bool = False):
        self.api = api
        self.link_original = link_original  # whether the text links the original post (publisher/run.py reads it)

    def limits(self) -> Limits:
        return LIMITS

    def publish(self, request: PublishRequest) -> Published:
        # Asked first: once the post exists, nothing may fail. Its URL in our account's name is the one the
        # X collector builds, so the repost is recognised as ours when a later search finds it.
        username = self.api.me().get("username")
        media_ids = []
        for image in request.images[: LIMITS.max_media]:
            media_id = self.api.upload_media(image.data, image.mime)
            if image.alt.strip() or request.sensitive:
                self.api.set_metadata(media_id, image.alt.strip(), sensitive=request.sensitive)
            media_ids.append(media_id)
        try:
            post = self.api.create_post(request.text, media_ids)
        except DuplicatePost as exc:
            # An earlier attempt's post exists (its answer was lost and find_existing missed it): record that one.
            found = self.find_existing(request)
            if found is None:
                raise PlatformError(f"{exc}, but it is not among our posts since this repost was planned; check "
                                    f"the account by hand, then approve or reject the item again") from None
            return found
        return self._published(str(post["id"]), username)

    def find_existing(self, request: PublishRequest) -> Published | None:
        """Our own post since the publication was planned with this text and as many images, if an earlier
        attempt made it."""
        since = request.planned_at - LOOK_BACK if request.planned_at else None
        wanted = comparable(request.text)
        for post in self.api.own_posts(start_time=since):
            attachments = post.get("attachments") if isinstance(post.get("attachments"), dict) else {}
            keys = attachments.get("media_keys") if isinstance(attachments.get("media_keys"), list) else []
            text = post.get("text") if isinstance(post.get("text"), str) else ""
            same = comparable(text) == wanted and len(keys) == len(request.images[: LIMITS.max_media])
            if same and NUMERIC_ID.fullmatch(str(post.get("id") or "")):
                return self._published(str(post.get("id")), self.api.me().get("username"))
        return None

    def unpublish(self, remote_id: str) -> bool:
        """Delete our post; False if it was already gone."""
        return self.api.delete_post(remote_id)

    @staticmethod
    def _published(post_id: str, username: object) -> Published:
        # /i/web/status/ID opens any post, should X ever send a username we would not put in a URL.
        name = username if isinstance(username, str) and USERNAME.fullmatch(username) else "i/web"
        return Published(remote_id=post_id, url=post_url(name, post_id))


def build(channel: ChannelSettings, settings: Settings, http: Http) -> XPublisher:
    """The publisher for a `kind = "x"` channel: the OAuth 2.0 user-context token in token_env."""
    return XPublisher(api_for(channel, settings, http), link_original=channel.link_original)
