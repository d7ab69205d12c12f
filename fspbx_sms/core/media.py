"""Media files: stored once by SHA-256 in the configured store, linked with signed, expiring URLs."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from fspbx_sms.core.media_store import MediaStore

#: Content types a carrier accepts as MMS pictures; anything else is refused at upload.
PICTURE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


class MediaError(ValueError):
    """An upload we refuse (not a picture, empty); the message says why."""


@dataclass(frozen=True)
class StoredMedia:
    """A file written to the media store."""

    sha256: str
    storage_key: str
    size: int
    content_type: str


class MediaLibrary:
    """Stores media files by content hash and signs links to them."""

    def __init__(self, store: MediaStore, key: bytes, ttl_seconds: float):
        self._store = store
        self._key = key
        self.ttl_seconds = ttl_seconds

    def store(self, data: bytes, content_type: str, *, any_type: bool = False) -> StoredMedia:
        """Write ``data`` once under its SHA-256 (the same picture twice is one file).

        Uploads must be pictures; inbound MMS media (``any_type``) may be any file a phone sent.
        Raises :class:`MediaStoreError` when the store is unreachable (try again later).
        """
        content_type = content_type.split(";")[0].strip().lower()
        if not any_type and content_type not in PICTURE_TYPES:
            raise MediaError(f"{content_type or 'this file'} is not a picture we can send (JPEG, PNG, GIF, WebP)")
        if not data:
            raise MediaError("the picture is empty")
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}"
        if not self._store.exists(key):
            self._store.save(key, data, content_type)
        return StoredMedia(sha256=digest, storage_key=key, size=len(data), content_type=content_type)

    def read(self, storage_key: str) -> bytes | None:
        """The bytes of a stored media row, or None when the object is gone (purged, or lost by the store)."""
        return self._store.load(storage_key)

    def delete(self, storage_key: str) -> None:
        """Remove a stored object no message uses any more."""
        self._store.delete(storage_key)

    def check(self) -> None:
        """Raise ``MediaStoreError`` when the store cannot take media now (for the health check)."""
        self._store.check()

    def _signature(self, media_id: int, expires: int) -> str:
        return hmac.new(self._key, f"{media_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def signed_path(self, media_id: int, *, now: float | None = None) -> str:
        """``/media/<id>?expires=…&signature=…``, valid for :attr:`ttl_seconds`."""
        expires = int((time.time() if now is None else now) + self.ttl_seconds)
        return f"/media/{media_id}?expires={expires}&signature={self._signature(media_id, expires)}"

    def verify(self, media_id: int, expires: str, signature: str, *, now: float | None = None) -> bool:
        """True when the signature is ours for this media and the link has not expired."""
        if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._signature(media_id, int(expires)), signature)
