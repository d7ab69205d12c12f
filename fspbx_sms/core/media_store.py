"""Where media bytes live: a local directory (the default) or an S3-compatible bucket shared by several workers.

Both stores hold immutable objects under keys named by their SHA-256, so writing a key twice is harmless and
no two workers can disagree about an object's content.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from fspbx_sms.config import Settings

log = logging.getLogger(__name__)


class MediaStoreError(OSError):
    """The store cannot be reached or refused the operation; the caller retries later."""


class MediaStore(Protocol):
    """Immutable objects by key."""

    def exists(self, key: str) -> bool:
        """True when an object is stored under ``key``."""

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key`` (replacing an identical object is harmless)."""

    def load(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none under ``key``."""

    def delete(self, key: str) -> None:
        """Remove the object under ``key``; a missing object is not an error."""

    def check(self) -> None:
        """Raise :class:`MediaStoreError` when the store cannot take writes now."""


class LocalMediaStore:
    """Files under one directory, written atomically (a reader never sees half a file)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key

    def exists(self, key: str) -> bool:
        """True when the file exists."""
        return self._path(key).is_file()

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """Write to a temporary name, then rename into place."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(path)
        except OSError as err:
            raise MediaStoreError(f"cannot write media to {self.directory}: {err.strerror or err}") from err

    def load(self, key: str) -> bytes | None:
        """The file's bytes, or None when it is missing."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise MediaStoreError(f"cannot read media from {self.directory}: {err.strerror or err}") from err

    def delete(self, key: str) -> None:
        """Remove the file if present."""
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        """The directory (or, before the first file, the nearest existing parent) must be writable."""
        existing = self.directory.absolute()
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise MediaStoreError(f"media directory {self.directory} is not writable")


class S3MediaStore:
    """Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, Wasabi, Backblaze B2, …), under a key prefix."""

    def __init__(self, client, bucket: str, prefix: str = ""):
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _unavailable(self, action: str, err: Exception) -> MediaStoreError:
        # botocore's messages name the bucket and endpoint, never the credentials.
        return MediaStoreError(f"S3 bucket {self.bucket!r}: cannot {action}: {err}")

    def _missing(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and err.response.get("Error", {}).get("Code") in {
            "404", "NoSuchKey", "NotFound",
        }

    def exists(self, key: str) -> bool:
        """A HEAD request on the object."""
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as err:
            if self._missing(err):
                return False
            raise self._unavailable("look up media", err) from err
        return True

    def save(self, key: str, data: bytes, content_type: str) -> None:
        """A PUT of the whole object (media are at most a few megabytes)."""
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as err:
            raise self._unavailable("store media", err) from err

    def load(self, key: str) -> bytes | None:
        """A GET of the whole object."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return answer["Body"].read()
        except (BotoCoreError, ClientError) as err:
            if self._missing(err):
                return None
            raise self._unavailable("read media", err) from err

    def delete(self, key: str) -> None:
        """A DELETE (S3 answers 204 for a missing object too)."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as err:
            raise self._unavailable("delete media", err) from err

    def check(self) -> None:
        """A HEAD request on the bucket."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as err:
            raise self._unavailable("reach the bucket", err) from err


def build_media_store(settings: Settings) -> MediaStore:
    """The store the settings choose: ``local`` (``media_dir``) or ``s3`` (``s3_*`` settings)."""
    if settings.media_storage == "local":
        return LocalMediaStore(Path(settings.media_dir))
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region or None,
        # Empty keys: boto3's own chain (AWS_* variables, instance role, ~/.aws) supplies credentials.
        aws_access_key_id=settings.s3_access_key or None,
        aws_secret_access_key=settings.s3_secret_key or None,
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": settings.s3_addressing_style},
        ),
    )
    log.info("media stored in S3 bucket %s at %s", settings.s3_bucket, settings.s3_endpoint_url or "AWS")
    return S3MediaStore(client, settings.s3_bucket, settings.s3_prefix)
