"""Voicemail transcripts for SMS notices, from an operator-configured command (none by default).

The command gets the recording's path as its last argument and prints the transcript on standard output
(for example a local speech-to-text tool, or a script that calls a transcription service). The notice waits
for it, then goes out with a summary of the transcript — or without one when the command keeps failing.
"""

from __future__ import annotations

import logging
import shlex
import subprocess

from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.core import outbox
from fspbx_sms.core.segments import count_segments
from fspbx_sms.models import Job, JobKind, JobState, Message, MessageEvent, MessageStatus

log = logging.getLogger(__name__)

#: How much of a transcript the SMS carries.
SUMMARY_CHARS = 300


def summarize(transcript: str) -> str:
    """The transcript on one line, cut at a word boundary to fit an SMS notice."""
    text = " ".join(transcript.split())
    if len(text) <= SUMMARY_CHARS:
        return text
    return text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + "…"


class Transcribe:
    """Job handler for ``transcribe`` jobs: the target is the recording's path, the message the notice."""

    def __init__(self, sessions: sessionmaker[Session], command: str, max_attempts: int, timeout: float = 120.0):
        self._sessions = sessions
        self._argv = shlex.split(command)
        self._max_attempts = max_attempts
        self._timeout = timeout

    def run(self, job: Job) -> outbox.Outcome:
        """Run the command on the recording; its standard output is the transcript."""
        try:
            done = subprocess.run([*self._argv, job.target], capture_output=True, timeout=self._timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return outbox.Retry(f"transcription command failed: {type(err).__name__}: {err}")
        transcript = done.stdout.decode("utf-8", errors="replace").strip()
        if done.returncode != 0 or not transcript:
            return outbox.Retry(f"transcription command exited {done.returncode} with no transcript")
        return outbox.Done(MessageStatus.SENT, detail=summarize(transcript))

    def finished(self, session: Session, job: Job, outcome: outbox.Outcome) -> None:
        """Put the transcript in the notice and send it; after the last attempt, send it without one."""
        message = session.get(Message, job.message_id)
        if message is None or (job.state is not JobState.DONE and job.state is not JobState.DEAD):
            return
        if isinstance(outcome, outbox.Done):
            message.body = f"{message.body} Transcript: {outcome.detail}"
            message.segments = count_segments(message.body).segments
            detail = "transcribed"
        else:
            detail = f"sent without a transcript: {job.last_error}"
            log.warning("voicemail notice %s %s", message.id, detail)
        session.add(MessageEvent(message=message, kind="transcription", detail=detail))
        outbox.enqueue(session, JobKind.CARRIER, message, message.remote_numbers_key, max_attempts=self._max_attempts)
