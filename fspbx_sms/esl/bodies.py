"""The text and attachments inside a phone's MESSAGE body: plain text, ``multipart/mixed`` or CPIM.

FreeSWITCH passes on only the media type (``type: multipart/mixed``), never its parameters, so the
multipart boundary is read from the body's first line.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    """A non-text part of a phone's message (a picture, a vCard...)."""

    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class MessageBody:
    """What a phone's message says: its text parts joined, and every other part."""

    text: str
    attachments: tuple[Attachment, ...] = ()


def parse_body(content_type: str, body: str) -> MessageBody:
    """Split a phone's MESSAGE body into text and attachments according to its media type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/mixed" or media_type == "multipart/related":
        return _multipart(body)
    if media_type == "message/cpim":
        return _cpim(body)
    return MessageBody(text=body)


def _split_headers(block: str) -> tuple[dict[str, str], str]:
    """Headers (names lowercased) and what follows the first empty line."""
    head, _, rest = block.replace("\r\n", "\n").partition("\n\n")
    headers = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _part(headers: dict[str, str], payload: str) -> MessageBody:
    content_type = headers.get("content-type", "text/plain")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("multipart/") or media_type == "message/cpim":
        return parse_body(media_type, payload)
    if media_type.startswith("text/plain"):
        return MessageBody(text=payload)
    if headers.get("content-transfer-encoding", "").lower() == "base64":
        try:
            data = base64.b64decode("".join(payload.split()), validate=True)
        except binascii.Error:
            data = payload.encode("utf-8", "surrogateescape")
    else:
        data = payload.encode("utf-8", "surrogateescape")
    return MessageBody(text="", attachments=(Attachment(media_type, data),))


def _multipart(body: str) -> MessageBody:
    first_line = body.lstrip("\r\n").split("\n", 1)[0].strip()
    if not first_line.startswith("--") or len(first_line) < 3:
        return MessageBody(text=body)
    delimiter = first_line
    texts: list[str] = []
    attachments: list[Attachment] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith("--"):
            break
        chunk = chunk.removeprefix("\r\n").removeprefix("\n")
        chunk = chunk.removesuffix("\r\n").removesuffix("\n")
        headers, payload = _split_headers(chunk)
        part = _part(headers, payload)
        if part.text:
            texts.append(part.text)
        attachments += part.attachments
    return MessageBody(text="\n".join(texts), attachments=tuple(attachments))


def _cpim(body: str) -> MessageBody:
    # RFC 3862: the message headers, an empty line, the MIME headers of the content, an empty line, content.
    _, content = _split_headers(body)
    headers, payload = _split_headers(content)
    return _part(headers, payload.rstrip("\r\n"))
