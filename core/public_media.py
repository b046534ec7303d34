"""Public storage: where a prepared photo waits for a platform that fetches it itself (Instagram cURLs image_url).

Two kinds, configured on the channel: a folder the community's web server already serves
(`public_media_dir` + `public_media_base_url`), or an S3-compatible bucket (AWS S3, Cloudflare R2, Scaleway,
MinIO...) reached through boto3, whose objects stay private and are shared by a short-lived presigned URL.
Names are the publication's idempotency key (unguessable) and a position, so a retry overwrites its own copy.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from core.errors import ConfigError, PlatformError
from core.http import Http
from core.settings import ChannelSettings


class PublicStorage(Protocol):
    """Somewhere a platform can fetch a file from, for a little while."""

    def put(self, name: str, data: bytes, mime: str) -> str:
        """Store the file; return the URL the platform fetches it from."""
        ...

    def remove(self, name: str) -> None:
        """Delete the file (missing already: fine)."""
        ...

    def check(self, http: Http) -> str:
        """`wlb doctor`: write a small file, fetch it back from its public URL, remove it; raise PlatformError."""
        ...


class PublicFolder:
    """A folder served by a web server at base_url."""

    def __init__(self, folder: Path, base_url: str):
        self.folder = folder
        self.base_url = base_url.rstrip("/")

    def put(self, name: str, data: bytes, mime: str) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f".{name}.tmp"
            temporary.write_bytes(data)
            temporary.chmod(0o644)  # the web server's user reads it
            os.replace(temporary, self.folder / name)
        except OSError as exc:
            raise PlatformError(f"cannot write to public_media_dir {self.folder} ({exc.strerror or exc}); "
                                f"fix its permissions or change public_media_dir") from None
        return f"{self.base_url}/{name}"

    def remove(self, name: str) -> None:
        try:
            (self.folder / name).unlink(missing_ok=True)
        except OSError as exc:
            raise PlatformError(f"cannot remove {self.folder / name} ({exc.strerror or exc})") from None

    def check(self, http: Http) -> str:
        return _round_trip(self, http, f"{self.folder} served at {self.base_url}")


class S3Bucket:
    """An S3-compatible bucket; objects are private and fetched through presigned GET URLs."""

    def __init__(self, bucket: str, *, prefix: str = "", expires: int = 900, client: Any):
        self.bucket = bucket
        self.prefix = prefix
        self.expires = expires
        self.client = client

    def put(self, name: str, data: bytes, mime: str) -> str:
        key = self.prefix + name
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=mime)
            return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                      ExpiresIn=self.expires)
        except Exception as exc:  # noqa: BLE001 - botocore's errors are many classes; each is one line here
            raise PlatformError(f"cannot put {key} in bucket {self.bucket} ({_s3_reason(exc)}); check s3_bucket, "
                                f"s3_endpoint_url and the credentials") from None

    def remove(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)
        except Exception as exc:  # noqa: BLE001
            raise PlatformError(f"cannot remove {self.prefix + name} from bucket {self.bucket} "
                                f"({_s3_reason(exc)})") from None

    def check(self, http: Http) -> str:
        return _round_trip(self, http, f"bucket {self.bucket} (presigned URLs)")


def _s3_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("Code"):
        return f"{error['Code']}: {' '.join(str(error.get('Message') or '').split())[:160]}"
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _round_trip(storage: PublicStorage, http: Http, what: str) -> str:
    """Write a probe file, fetch it from its public URL, remove it."""
    name, body = f"wlb-doctor-{secrets.token_hex(8)}.txt", b"wlb doctor probe\n"
    url = storage.put(name, body, "text/plain")
    try:
        fetched = http.download(url, max_bytes=1024)
    except PlatformError as exc:
        raise PlatformError(f"public storage {what} is writable but not reachable ({exc}); the platform could "
                            f"not fetch the photos either") from None
    finally:
        storage.remove(name)
    if fetched != body:
        raise PlatformError(f"public storage {what}: the public URL serves something else than the file written; "
                            f"check that the base URL serves that folder")
    return f"public storage {what}: writable and reachable"


def s3_client(channel: ChannelSettings) -> Any:
    """A boto3 S3 client for the channel's endpoint, region and credentials (None: boto3's own lookup)."""
    try:
        import boto3  # only a channel with s3_bucket pays for importing it
        from botocore.config import Config
    except ImportError:
        raise ConfigError("s3_bucket needs boto3: pip install boto3") from None
    key = os.environ.get(channel.s3_access_key_env) if channel.s3_access_key_env else None
    secret = os.environ.get(channel.s3_secret_key_env) if channel.s3_secret_key_env else None
    for env, value in ((channel.s3_access_key_env, key), (channel.s3_secret_key_env, secret)):
        if env and not value:
            raise ConfigError(f"s3 credentials: ${env} is not set; export it or remove the setting naming it")
    # Path-style addressing works with every S3-compatible service (MinIO and local servers need it).
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3})
    return boto3.client("s3", endpoint_url=channel.s3_endpoint_url, region_name=channel.s3_region or "us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=config)


def storage_for(channel: ChannelSettings, root: Path) -> PublicStorage | None:
    """The channel's public storage, or None when it configures none."""
    if channel.public_media_dir is not None and channel.public_media_base_url:
        folder = Path(channel.public_media_dir)
        return PublicFolder(folder if folder.is_absolute() else root / folder, channel.public_media_base_url)
    if channel.s3_bucket:
        return S3Bucket(channel.s3_bucket, prefix=channel.s3_prefix, expires=channel.s3_url_expires,
                        client=s3_client(channel))
    return None
