"""Instagram publishing through an S3-compatible bucket: moto's S3 server on 127.0.0.1, presigned URLs that the
fake Graph API really fetches, objects removed once published."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.errors import PlatformError
from core.http import Http
from core.public_media import S3Bucket, storage_for
from core.settings import ChannelSettings, NetworkSettings
from platforms.instagram import InstagramAPI
from publisher.instagram import InstagramPublisher
from tests.fakes.instagram import IG_USER_ID, TOKEN, FakeInstagram
from tests.publisher.test_instagram import request

BUCKET = "wlb-public"


@pytest.fixture
def s3(monkeypatch) -> Iterator[str]:
    """moto's S3 in server mode, started by the test; the endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"moto[server] is not installed ({exc}); pip install -e '.[test]' to run the S3 tests")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is a skip with its reason, not an error
        pytest.skip(f"moto's S3 server could not start on 127.0.0.1 ({type(exc).__name__}: {exc})")
    host, port = server.get_host_and_port()
    httpx.post(f"http://{host}:{port}/moto-api/reset")  # moto keeps its buckets per process, not per server
    monkeypatch.setenv("WLB_S3_KEY", "AKIAWLBTEST")
    monkeypatch.setenv("WLB_S3_SECRET", "wlb-test-secret")
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):  # only what the channel names
        monkeypatch.delenv(name, raising=False)
    yield f"http://{host}:{port}"
    server.stop()


def channel(endpoint: str, bucket: str = BUCKET) -> ChannelSettings:
    return ChannelSettings(kind="instagram", ig_user_id=IG_USER_ID, publish=True, s3_bucket=bucket,
                           s3_endpoint_url=endpoint, s3_region="eu-west-1", s3_access_key_env="WLB_S3_KEY",
                           s3_secret_key_env="WLB_S3_SECRET")


def bucket(endpoint: str, tmp_path) -> S3Bucket:
    storage = storage_for(channel(endpoint), tmp_path)
    assert isinstance(storage, S3Bucket)
    storage.client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return storage


def test_instagram_fetches_the_photo_by_a_short_lived_presigned_url_and_the_object_goes_after(s3, tmp_path):
    storage = bucket(s3, tmp_path)
    with FakeInstagram() as ig:
        http = Http(NetworkSettings(allow_private=[ig.origin]), sleep=lambda s: None)
        api = InstagramAPI(http, ig.graph_url, TOKEN, IG_USER_ID, token_env="WLB_IG_TOKEN")
        published = InstagramPublisher(api, storage, sleep=lambda s: None).publish(request(2))
        assert published.remote_id == ig.own[0]["id"]
        fetched = [url for url, status, _ in ig.fetched if status == 200]
    assert len(fetched) == 2
    for n, url in enumerate(fetched, 1):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        assert f"{parts.scheme}://{parts.netloc}" == s3 and parts.path == f"/{BUCKET}/wlb/{'k' * 40}-{n}.jpg"
        assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Signature"][0]
        assert query["X-Amz-Credential"][0].startswith("AKIAWLBTEST/")
    assert storage.client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0, "removed once published"


def test_doctor_round_trip_through_the_bucket(s3, tmp_path):
    storage = bucket(s3, tmp_path)
    http = Http(NetworkSettings(allow_private=[s3]), sleep=lambda s: None)
    assert storage.check(http) == f"public storage bucket {BUCKET} (presigned URLs): writable and reachable"
    assert storage.client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_missing_bucket_is_one_line(s3, tmp_path):
    storage = storage_for(channel(s3, "no-such-bucket"), tmp_path)
    with pytest.raises(PlatformError, match=r"cannot put wlb/x.jpg in bucket no-such-bucket \(NoSuchBucket"):
        storage.put("x.jpg", b"data", "image/jpeg")


def test_a_named_but_unset_credential_variable_is_a_config_error(s3, tmp_path, monkeypatch):
    from core.errors import ConfigError

    monkeypatch.delenv("WLB_S3_SECRET")
    with pytest.raises(ConfigError, match=r"\$WLB_S3_SECRET is not set"):
        storage_for(channel(s3), tmp_path)
