"""An S3-compatible server on loopback (moto's server mode), and one fresh bucket per test."""

from __future__ import annotations

import itertools
import logging

import boto3
from moto.server import ThreadedMotoServer

from tests.service_process import free_port

_names = itertools.count(1)


class S3Server:
    """moto's S3 endpoint in a thread: real HTTP with S3's wire protocol and errors."""

    def __init__(self):
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def endpoint(self) -> str:
        """The endpoint URL clients are given."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        """Serve until :meth:`stop`; werkzeug's per-request log lines are silenced."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def client(self):
        """A boto3 client of this endpoint (any keys are accepted)."""
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test-access-key", aws_secret_access_key="test-secret-key-do-not-log",
        )

    def bucket(self, *, create: bool = True) -> S3Bucket:
        """A bucket name no other test uses; created unless ``create`` is false."""
        bucket = S3Bucket(self, f"fspbx-sms-media-{next(_names)}")
        if create:
            bucket.create()
        return bucket


class S3Bucket:
    """One test's bucket: the settings that point the service at it, and what it holds."""

    def __init__(self, server: S3Server, name: str):
        self.server = server
        self.name = name
        self._client = server.client()

    def create(self) -> None:
        """Create the bucket (a store pointed at it before this refuses every write)."""
        self._client.create_bucket(Bucket=self.name)

    def env(self, prefix: str = "media/") -> dict[str, str]:
        """``FSPBX_SMS_*`` variables selecting this bucket as the media store."""
        return {
            "FSPBX_SMS_MEDIA_STORAGE": "s3",
            "FSPBX_SMS_S3_BUCKET": self.name,
            "FSPBX_SMS_S3_PREFIX": prefix,
            "FSPBX_SMS_S3_ENDPOINT_URL": self.server.endpoint,
            "FSPBX_SMS_S3_ACCESS_KEY": "test-access-key",
            "FSPBX_SMS_S3_SECRET_KEY": "test-secret-key-do-not-log",
        }

    def keys(self) -> list[str]:
        """Every object key in the bucket, sorted."""
        answer = self._client.list_objects_v2(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def read(self, key: str) -> bytes:
        """One object's bytes."""
        return self._client.get_object(Bucket=self.name, Key=key)["Body"].read()
