"""Settings: config.toml loaded and validated once, then passed down."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from collections.abc import Mapping
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from core.errors import ConfigError
from core.posts import normalize_tag

# Licences (as families: version and port dropped) that may be reposted without asking.
DEFAULT_LICENSES = ["CC BY", "CC BY-SA", "CC0", "Public Domain Mark"]

DEFAULT_TEMPLATE = "{caption}\n\n📷 {credit} · {url}\n{hashtags}"


class PlatformRules(Protocol):
    """What settings need to know of a platform (platforms/registry.py has one row per kind)."""

    can_collect: bool
    can_publish: bool
    requires: tuple[tuple[str, str], ...]
    default_base_url: str | None
    secret_to_read: bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(Strict):
    allow_private: list[str] = []
    timeout: float = Field(20.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    max_wait: float = Field(300.0, ge=0)
    max_media_bytes: int = Field(25_000_000, gt=0)
    max_pixels: int = Field(60_000_000, gt=0)
    download_concurrency: int = Field(8, ge=1, le=64)
    user_agent: str = "wlb/0.1 (+https://github.com/welovebrussels/wlb)"
    max_api_bytes: int = Field(8_000_000, gt=0)  # an API answer, counted after decompression
    request_deadline: float = Field(60.0, gt=0)  # one request from start to last byte, however slow the server

    @field_validator("allow_private")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if "://" not in origin or origin.rstrip("/").count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin; write scheme://host:port")
        return [o.rstrip("/").lower() for o in value]


class RulesSettings(Strict):
    min_width: int = Field(600, ge=0)
    min_height: int = Field(600, ge=0)
    blocked_authors: list[str] = []
    blocked_words: list[str] = []
    sensitive: Literal["skip", "review"] = "skip"
    languages: list[str] = []
    own_accounts: list[str] = []


class DedupSettings(Strict):
    # Defaults from bench/dedup_accuracy.py on 40 real photographs (README, "How duplicates are found").
    phash_distance: int = Field(10, ge=0, le=64)
    dhash_distance: int = Field(12, ge=0, le=64)
    mirror_distance: int = Field(4, ge=0, le=64)
    possible_phash_distance: int = Field(12, ge=0, le=64)
    possible_dhash_distance: int = Field(14, ge=0, le=64)
    republish_months: int = Field(12, ge=0)


class CollectSettings(Strict):
    backfill_pages: int = Field(5, ge=1, le=1000)
    page_size: int = Field(40, ge=1, le=40)
    max_pages_per_run: int = Field(50, ge=1)  # per channel and hashtag: an endless "newer" stream stops here


class PublishSettings(Strict):
    template: str = DEFAULT_TEMPLATE
    alt_fallback: str = "Photo of Brussels shared with #welovebrussels"
    daily_cap: int = Field(10, ge=0)
    visibility: Literal["public", "unlisted", "private"] = "public"
    rotation_days: int = Field(0, ge=0, le=365)  # the same photographer at most once per N days per channel; 0: off

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        for needed in ("{credit}", "{url}"):
            if needed not in value:
                raise ValueError(f"the template must contain {needed}: the credit is never dropped")
        return value


class LicenseSettings(Strict):
    allowed: list[str] = DEFAULT_LICENSES  # families reposted without asking; NC ones too on non_commercial channels

    @field_validator("allowed")
    @classmethod
    def _families(cls, value: list[str]) -> list[str]:
        return [" ".join(v.split()) for v in value]


class ScheduleSettings(Strict):
    collect_every_minutes: int = Field(60, ge=0)
    nightly: str = "30 2 * * *"

    @field_validator("nightly")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("write a five-field cron expression such as '30 2 * * *'")
        return value


class ReviewSettings(Strict):
    lease_minutes: int = Field(5, ge=1, le=240)  # an item shown to one reviewer is hidden from the others this long


class WebSettings(Strict):
    """`wlb web`: where it listens and how reviewers sign in (app/web/)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    trusted_header: str | None = None  # e.g. "X-Remote-User", set by a reverse proxy that signed the reviewer in
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]  # the only addresses whose trusted_header is believed
    session_hours: int = Field(12, ge=1, le=24 * 30)

    @field_validator("trusted_header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", value):
            raise ValueError("write an HTTP header name such as 'X-Remote-User'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address or network") from None
        return value


Signal = Literal["skip", "ask", "ignore"]


class ConsentSettings(Strict):
    """Asking photographers before reposting (core/consent.py), and the opt-out signals honoured at collect time."""

    per_hour: int = Field(10, ge=1, le=1000)  # requests one asking channel sends per hour at most
    expire_days: int = Field(14, ge=1, le=365)  # no answer in this long: the item shows "consent expired"
    refused_months: int = Field(12, ge=0, le=120)  # after a "no", that photographer's photos are not asked again
    default_language: Literal["fr", "nl", "en"] = "en"  # when neither the platform nor the text says
    ask_from: list[str] = []  # channels that may ask, in order of preference; default: any with a token on the network
    # What a signal does at collect time: skip the post (with the reason), ask first even on a "none" channel, or
    # ignore it. Fediverse bios with #nobot / #noindex-style tags; accounts with noindex: true or
    # discoverable/indexable: false; Bluesky's !no-unauthenticated self-label; a post carrying a no_repost marker.
    nobot: Signal = "skip"
    noindex: Signal = "skip"
    not_discoverable: Signal = "skip"
    no_unauthenticated: Signal = "skip"
    no_repost: Signal = "skip"
    # Mastodon's `indexable` is an opt-in to full-text search that defaults to false (and reads false for remote
    # software that does not send it): false is what nearly every account serves, not a wish. Off unless chosen.
    not_indexable: Signal = "ignore"
    no_repost_markers: list[str] = ["#norepost", "#nobot", "#noshare"]
    templates: dict[Literal["fr", "nl", "en"], str] = {}  # override a language's request; {mention} and {link} required

    @field_validator("no_repost_markers")
    @classmethod
    def _markers(cls, value: list[str]) -> list[str]:
        for marker in value:
            if not marker.strip().lstrip("#") or len(marker) > 100:
                raise ValueError(f"no_repost_markers: {marker[:100]!r} is not a marker; write a hashtag like "
                                 f"'#norepost' or a phrase of at most 100 characters")
        return value

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for language, text in value.items():
            for needed in ("{mention}", "{link}"):
                if needed not in text:
                    raise ValueError(f"the {language} template must contain {needed}")
        return value


_WEEKLY = re.compile(r"(mon|tue|wed|thu|fri|sat|sun) +([01]?\d|2[0-3]):([0-5]\d)")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class ReportSettings(Strict):
    """`wlb serve` sends `wlb report` weekly: to a file, and/or POSTed as JSON to a webhook."""

    weekly: str | None = None  # "mon 09:00", in the configured time zone; None: not sent
    to_file: str | None = None  # "reports/week-{date}.json", relative to the config file; {date}: the day it is sent
    webhook_url_env: str | None = None  # the variable holding the webhook URL (it may carry a secret)

    @model_validator(mode="before")
    @classmethod
    def _no_url_in_config(cls, data: object) -> object:
        if isinstance(data, dict) and "webhook_url" in data:
            raise ValueError("a webhook URL may carry a secret: put it in an environment variable and name that "
                             "variable in webhook_url_env")
        return data

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: str | None) -> str | None:
        if value is not None and not _WEEKLY.fullmatch(value.strip().lower()):
            raise ValueError("write a weekday and a time, such as \"mon 09:00\"")
        return " ".join(value.strip().lower().split()) if value is not None else None

    @field_validator("to_file")
    @classmethod
    def _to_file(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(date="2026-01-01")
            except (KeyError, IndexError, ValueError):
                raise ValueError("only {date} may appear in braces, e.g. \"reports/week-{date}.json\"") from None
        return value

    @field_validator("webhook_url_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError("name the environment variable that holds the URL (e.g. WLB_REPORT_WEBHOOK), "
                             "not the URL itself")
        return value

    @model_validator(mode="after")
    def _somewhere(self) -> ReportSettings:
        if self.weekly and not (self.to_file or self.webhook_url_env):
            raise ValueError("weekly needs somewhere to send the report: to_file, webhook_url_env or both")
        return self

    def webhook_url(self) -> str | None:
        return os.environ.get(self.webhook_url_env) if self.webhook_url_env else None


class ChannelSettings(Strict):
    kind: str
    base_url: str | None = None
    collect: bool = True
    publish: bool = False
    token_env: str | None = None
    handle: str | None = None  # bluesky: the account's handle (its app password is in token_env)
    plc_url: str = "https://plc.directory"  # bluesky: the DID directory naming each author's PDS (origin checks)
    feed_url: str | None = None  # rss: the feed to read
    page_id: str | None = None  # facebook: the Page's numeric id (its Page access token is in token_env)
    non_commercial: bool = False  # publishing channel: NC-licensed photos may be reposted here
    # Publishing channel: ask the photographer first? "none"; "ask" unless the licence already allows reposting;
    # "ask-always". Requests go as replies from our account on the post's network ([consent], core/consent.py).
    consent: Literal["none", "ask", "ask-always"] = "none"
    consent_visibility: Literal["direct", "private", "unlisted", "public"] = "direct"  # mastodon/pixelfed replies
    hashtags: list[str] | None = None
    daily_cap: int | None = Field(None, ge=0)
    template: str | None = None
    # Posting slots: local "HH:MM" times in [timezone], one post each (core/slots.py); None: publish at run time.
    slots: list[str] | None = None
    weekend_slots: list[str] | None = None  # Saturday and Sunday (default: slots); [] posts nothing at weekends
    # instagram: the professional account's id, and the public storage Instagram fetches reposted photos from:
    # a folder the community's web server serves, or an S3-compatible bucket (credentials from the named variables).
    ig_user_id: str | None = Field(None, pattern=r"^\d{1,32}$")
    public_media_dir: Path | None = None
    public_media_base_url: str | None = None
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # None: AWS S3; else R2, Scaleway, MinIO...
    s3_region: str | None = None
    s3_prefix: str = "wlb/"
    s3_access_key_env: str | None = None  # None: boto3's own lookup (AWS_ACCESS_KEY_ID, ~/.aws, instance role)
    s3_secret_key_env: str | None = None
    s3_url_expires: int = Field(900, ge=60, le=86400)  # seconds a presigned URL works: long enough to fetch once
    # x: reading costs money per post returned (docs.x.com/x-api/getting-started/pricing, pay-per-use since
    # 2026-02-06), and a post with a URL costs about 13 times one without.
    client_id: str | None = None  # x: the app's OAuth 2.0 client id: token_env then holds a refresh token wlb renews
    client_secret_env: str | None = None  # x: for a confidential client, the variable holding its client secret
    link_original: bool = False  # x: link the original post in the repost (a $0.200 post instead of $0.015)
    monthly_budget: float = Field(5.0, ge=0)  # x: USD of reads per calendar month (UTC); collection stops before it
    post_read_cost: float = Field(0.005, ge=0)  # x: USD per post a search returns ("Posts: Read")
    user_read_cost: float = Field(0.010, ge=0)  # x: USD per author it expands ("User: Read"; whether billed: unverified)

    @field_validator("base_url", "feed_url", "plc_url", "public_media_base_url", "s3_endpoint_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("write the URL with its scheme, e.g. https://mastodon.social")
        # A feed URL is used as written: "/feed/" and "/feed" can be different resources.
        return value.rstrip("/") if value and info.field_name == "base_url" else value

    @field_validator("slots", "weekend_slots")
    @classmethod
    def _slots(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        if not value and info.field_name == "slots":
            raise ValueError('list at least one time such as ["12:30"], or remove slots to publish at run time')
        for text in value:
            if not _HHMM.fullmatch(text):
                raise ValueError(f'{text!r} is not a time; write 24-hour "HH:MM" such as "08:30"')
        twice = next((t for t in value if value.count(t) > 1), None)
        if twice:
            raise ValueError(f"{twice!r} is listed twice; each slot is one post")
        if value != sorted(value):
            raise ValueError(f'list the times earliest first, e.g. {sorted(value)!r}'.replace("'", '"'))
        return value

    @model_validator(mode="after")
    def _slots_need_publish(self) -> ChannelSettings:
        if self.weekend_slots is not None and self.slots is None:
            raise ValueError("weekend_slots needs slots (the weekday times)")
        if self.slots is not None and not self.publish:
            raise ValueError("slots are posting times: set publish = true, or remove slots")
        return self

    @field_validator("page_id", mode="before")
    @classmethod
    def _page_id(cls, value: object) -> object:
        """A Facebook Page id is a number; it goes into every Graph API path, so nothing else is accepted."""
        value = str(value) if isinstance(value, int) else value
        if value is not None and not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 32):
            raise ValueError("write the Page's numeric id, e.g. page_id = \"104512345678901\" (Page settings → About)")
        return value

    @model_validator(mode="after")
    def _kind(self, info: ValidationInfo) -> ChannelSettings:
        known = _platforms(info)
        if known is None:  # built in code, not loaded from a config file: the caller knows its kinds
            return self
        if self.kind not in known:
            raise ValueError(f"unknown kind {self.kind!r}; use one of {', '.join(sorted(known))}")
        rules = known[self.kind]
        if self.publish and not rules.can_publish:
            raise ValueError(f"kind {self.kind!r} cannot publish; set publish = false")
        if self.collect and not rules.can_collect:
            raise ValueError(f"kind {self.kind!r} cannot collect; set collect = false")
        for name, example in rules.requires:
            if not getattr(self, name):
                raise ValueError(f"a {self.kind} channel needs {name}, {example}")
        return self

    @model_validator(mode="after")
    def _public_media(self) -> ChannelSettings:
        """One public storage at most, complete; an instagram channel that publishes needs one."""
        folder = self.public_media_dir is not None or self.public_media_base_url is not None
        if folder and (self.public_media_dir is None or self.public_media_base_url is None):
            raise ValueError("public_media_dir and public_media_base_url go together: the folder, and the "
                             "address where the web server serves it")
        if folder and self.s3_bucket:
            raise ValueError("choose one public storage: public_media_dir or s3_bucket, not both")
        if self.kind == "instagram" and self.publish and not (folder or self.s3_bucket):
            raise ValueError("an instagram channel that publishes needs public storage Instagram can fetch from: "
                             "public_media_dir + public_media_base_url, or s3_bucket")
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_base_url(cls, data: dict, info: ValidationInfo) -> dict:
        kind = data.get("kind") if isinstance(data, dict) else None
        rules = (_platforms(info) or {}).get(kind) if isinstance(kind, str) else None  # kind = [..]: its field refuses it
        if rules is not None and rules.default_base_url and not data.get("base_url"):
            data = {**data, "base_url": rules.default_base_url}
        return data

    def token(self) -> str | None:
        return os.environ.get(self.token_env) if self.token_env else None

    @property
    def host(self) -> str:
        url = self.base_url or self.feed_url or ""
        return url.split("://", 1)[-1].split("/", 1)[0]


def _platforms(info: ValidationInfo) -> Mapping[str, PlatformRules] | None:
    return (info.context or {}).get("platforms")


class Settings(Strict):
    hashtags: list[str] = ["welovebrussels"]
    database: str = "sqlite:///data/wlb.db"
    data_dir: Path = Path("data")  # run lock, sessions; default: media_dir's parent if set, else data/ beside the config
    media_dir: Path = Path("data/media")  # default: media/ in data_dir
    timezone: str = "Europe/Brussels"
    network: NetworkSettings = NetworkSettings()
    rules: RulesSettings = RulesSettings()
    dedup: DedupSettings = DedupSettings()
    collect: CollectSettings = CollectSettings()
    publish: PublishSettings = PublishSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    licenses: LicenseSettings = LicenseSettings()
    review: ReviewSettings = ReviewSettings()
    web: WebSettings = WebSettings()
    report: ReportSettings = ReportSettings()
    consent: ConsentSettings = ConsentSettings()
    channels: dict[str, ChannelSettings] = {}
    path: Path = Path("config.toml")

    @model_validator(mode="before")
    @classmethod
    def _folders(cls, data: dict) -> dict:
        """Unset folders: data_dir is media_dir's parent when media_dir is set (where releases before data_dir kept
        the run lock and Bluesky sessions), else data/ beside the config file; media_dir is media/ in data_dir."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        folder = (str, os.PathLike)  # anything else is left for the field's own check to refuse in one line
        if data.get("data_dir") is None:
            media = data.get("media_dir")
            data["data_dir"] = (Path(media).parent if isinstance(media, folder)
                                else Path(data.get("path") or "config.toml").parent / "data")
        if data.get("media_dir") is None and isinstance(data["data_dir"], folder):
            data["media_dir"] = Path(data["data_dir"]) / "media"
        return data

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one hashtag")
        return [normalize_tag(t) for t in value]

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Brussels") from None
        return value

    @model_validator(mode="after")
    def _public_media_origin(self) -> Settings:
        """Instagram fetches over https; plain http only for an origin the config already trusts (tests, a LAN)."""
        for name, channel in self.channels.items():
            url = channel.public_media_base_url or ""
            if url.startswith("http://") and "/".join(url.split("/", 3)[:3]).lower() not in self.network.allow_private:
                raise ValueError(f"channels.{name}.public_media_base_url must be https (Instagram fetches from a "
                                 f"public HTTPS address), or an http origin listed in [network] allow_private")
        return self

    @model_validator(mode="after")
    def _askers(self) -> Settings:
        for name in self.consent.ask_from:
            if name not in self.channels:
                raise ValueError(f"consent.ask_from names {name!r}, which is not a channel; list channel names")
        return self

    @property
    def root(self) -> Path:
        return self.path.parent

    def publishing_channels(self) -> list[str]:
        """Every channel with publish = true, in config order: where an item without targets goes."""
        return [name for name, ch in self.channels.items() if ch.publish]

    def channel_hashtags(self, name: str) -> list[str]:
        tags = self.channels[name].hashtags
        return [normalize_tag(t) for t in tags] if tags else self.hashtags


def _resolve_paths(raw: dict, root: Path) -> dict:
    """Make relative paths (data_dir, media_dir, SQLite file) relative to the config file."""
    for key in ("data_dir", "media_dir"):
        if isinstance(raw.get(key), str):
            raw[key] = root / raw[key]  # an absolute path stays as it is
    db = raw.get("database", "sqlite:///data/wlb.db")
    if isinstance(db, str) and db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        rel = db.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            raw["database"] = f"sqlite:///{(root / rel).resolve()}"
    return raw


def _uncreatable(folder: Path) -> str | None:
    """Why `folder` is neither a folder nor creatable, or None; creates nothing."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe == folder and probe.is_dir():
        return None
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _describe(error: ValidationError, path: Path) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{path}: unknown key '{key}'; remove it or check its spelling (see the comments in config.toml)"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{path}: '{key}': {msg}"


def token_problem(name: str, channel: ChannelSettings, env: Mapping[str, str], rules: PlatformRules) -> str | None:
    """Why this channel cannot run with this environment (a missing secret), or None."""
    needs = channel.publish or (channel.collect and rules.secret_to_read)
    if needs and not channel.token_env:
        return f"'channels.{name}.token_env' is missing; name the environment variable that holds the {channel.kind} secret"
    if needs and not env.get(channel.token_env or ""):
        return f"channels.{name} needs a secret but ${channel.token_env} is not set; export it or set publish = false"
    return None


def load_settings(path: Path | str, *, platforms: Mapping[str, PlatformRules], env: Mapping[str, str] | None = None,
                  check_secrets: bool = True) -> Settings:
    """Read, validate and check config.toml against the known platforms; raise ConfigError with one actionable line."""
    path = Path(path)
    env = os.environ if env is None else env
    if path.exists() and not path.is_file():  # --config /dev/null would put data/ in /dev
        raise ConfigError(f"{path}: not a regular file; pass --config the path of a config.toml ('wlb init' writes one)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; run 'wlb init' or pass --config PATH") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    raw.pop("path", None)
    try:
        settings = Settings.model_validate({**_resolve_paths(raw, path.resolve().parent), "path": path.resolve()},
                                           context={"platforms": platforms})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    for key in ("data_dir", "media_dir"):
        folder = getattr(settings, key)
        problem = _uncreatable(folder)
        if problem:
            raise ConfigError(f"{path}: {key} {folder} cannot be created ({problem}); "
                              f"set {key} to a folder you can write to")
    for name, channel in settings.channels.items():
        problem = token_problem(name, channel, env, platforms[channel.kind]) if check_secrets else None
        if problem:
            raise ConfigError(f"{path}: {problem}")
    return settings
