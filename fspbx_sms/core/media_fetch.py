"""Inbound MMS media: downloaded with the carrier's auth, checked, stored once by content hash.

A ``media`` job per inbound message fetches every attachment not stored yet. The text itself never waits for
it: the SIP delivery goes out at once (with links to whatever is stored by then).
"""

from __future__ import annotations

import base64
import binascii
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.carriers import CarrierError
from fspbx_sms.core import outbox
from fspbx_sms.core.adapters import AdapterCache
from fspbx_sms.core.media import MediaError, MediaLibrary
from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.db import session_scope
from fspbx_sms.models import Job, JobKind, JobState, Media, Message, MessageEvent, MessageStatus

log = logging.getLogger(__name__)

#: File signatures: the content type comes from the bytes, never from what the sender's headers claim.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def sniff_content_type(data: bytes) -> str:
    """The media type the bytes themselves show (``application/octet-stream`` when unknown)."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


def _data_url(url: str) -> bytes:
    """The bytes of a ``data:…;base64,`` URL (Commio can deliver MMS media inline this way)."""
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise MediaError("only base64 data URLs are supported")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("the data URL is not valid base64") from None


def media_pending(session: Session, message_id: int) -> bool:
    """True while the message's media job is still to run (its pictures are not all stored yet)."""
    pending = session.scalars(
        select(Job.id).where(
            Job.message_id == message_id,
            Job.kind == JobKind.MEDIA,
            Job.state.in_([JobState.PENDING, JobState.RUNNING]),
        )
        .limit(1)
    ).first()
    return pending is not None


class MediaFetch:
    """Job handler for ``media`` jobs."""

    def __init__(self, sessions: sessionmaker[Session], adapters: AdapterCache, media: MediaLibrary, max_bytes: int):
        self._sessions = sessions
        self._adapters = adapters
        self._media = media
        self._max_bytes = max_bytes

    def run(self, job: Job) -> outbox.Outcome:
        """Fetch and store each attachment still missing; retry only what failed for a retryable reason."""
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            pending = [(m.id, m.original_url or "") for m in message.media if not m.storage_key]
            adapter = self._adapters.get(message.carrier_account) if message.carrier_account else None
        retry, failed = [], []
        for media_id, url in pending:
            if adapter is None and not url.startswith("data:"):
                failed.append(f"media {media_id}: the message has no carrier account to download its media with")
                continue
            try:
                data = _data_url(url) if url.startswith("data:") else adapter.download_media(url, self._max_bytes)[0]
                stored = self._media.store(data, sniff_content_type(data), any_type=True)
            except CarrierError as err:
                (retry if err.retryable else failed).append(f"media {media_id}: {err}")
                continue
            except MediaError as err:
                failed.append(f"media {media_id}: {err}")
                continue
            except MediaStoreError as err:
                retry.append(f"media {media_id}: {err}")
                continue
            with session_scope(self._sessions) as session:
                row = session.get(Media, media_id)
                if row is not None:
                    row.storage_key, row.sha256 = stored.storage_key, stored.sha256
                    row.size, row.content_type = stored.size, stored.content_type
        if retry:
            return outbox.Retry("; ".join(retry + failed))
        if failed:
            return outbox.Fail("; ".join(failed))
        return outbox.Done(MessageStatus.SENT, detail=f"{len(pending)} attachment(s) stored")

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Record the download's outcome on the message (the text's own status does not depend on it)."""
        if isinstance(outcome, outbox.Done):
            detail = outcome.detail
        elif job.state is JobState.DEAD:
            detail = f"media not stored: {job.last_error}"
            log.warning("message %s: %s", job.message_id, detail)
        else:
            detail = f"media download will retry: {job.last_error}"
        session.add(MessageEvent(message_id=job.message_id, kind="media", detail=detail))
