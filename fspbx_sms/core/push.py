"""Mobile app hand-off: every text for an extension with a push URL is POSTed there as signed JSON.

For apps that do not keep a SIP registration. The body is JSON; ``X-Fspbx-Timestamp`` is Unix seconds and
``X-Fspbx-Signature`` is ``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with the extension's push
secret, so the app can check origin and freshness. Retried like any job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.db import session_scope
from fspbx_sms.models import Domain, Extension, Job, JobState, Message, MessageEvent, MessageStatus


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Fspbx-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class PushNotify:
    """Job handler for ``notify`` jobs: the target is the extension's address."""

    def __init__(self, sessions: sessionmaker[Session], media: MediaLibrary, base_url: str, timeout: float = 10.0):
        self._sessions = sessions
        self._media = media
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = requests.Session()

    def run(self, job: Job) -> outbox.Outcome:
        """POST the text to the app; 2xx done, 4xx (but 408/429) failed for good, anything else retried."""
        with session_scope(self._sessions) as session:
            message = session.get(Message, job.message_id)
            if message is None:
                return outbox.Fail("the message was deleted")
            number, _, domain = job.target.partition("@")
            extension = session.scalars(
                select(Extension).join(Domain).where(Extension.number == number, Domain.name == domain)
            ).one_or_none()
            if extension is None or not extension.push_url:
                return outbox.Fail(f"{job.target} has no push URL any more")
            url, secret = extension.push_url, extension.push_secret
            payload = {
                "message_id": message.id,
                "extension": job.target,
                "from": message.remote_numbers[0] if message.remote_numbers else "",
                "participants": list(message.remote_numbers),
                "our_number": message.our_number,
                "text": message.body,
                "media": [self._base_url + self._media.signed_path(m.id) for m in message.media if m.storage_key],
                "received_at": message.created_at.isoformat(),
            }
        body = json.dumps(payload, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Fspbx-Timestamp": stamp,
            "X-Fspbx-Signature": sign(secret, stamp, body),
        }
        try:
            response = self._http.post(url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as err:
            return outbox.Retry(f"push to the app failed: {type(err).__name__}")
        with response:
            if 200 <= response.status_code < 300:
                return outbox.Done(MessageStatus.SENT, detail="pushed to the app")
            error = f"the app answered HTTP {response.status_code}"
            if response.status_code in (408, 429) or response.status_code >= 500:
                return outbox.Retry(error)
            return outbox.Fail(error, code=str(response.status_code))

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Record the push on the message (the SIP delivery keeps deciding the message's status)."""
        if isinstance(outcome, outbox.Done):
            detail = "pushed to the app"
        elif job.state is JobState.DEAD:
            detail = f"push failed: {job.last_error}"
        else:
            detail = f"push will retry: {job.last_error}"
        session.add(MessageEvent(message_id=job.message_id, kind="push", detail=f"{job.target}: {detail}"))
