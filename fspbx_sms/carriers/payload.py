"""Checks every carrier needs on what it sends and what it reads.

Outbound: a message against the carrier's documented limits, raising a permanent CarrierError. Inbound: untrusted
webhook payloads, raising only WebhookParseError.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests

from fspbx_sms.carriers.base import CarrierError, OutboundMessage, WebhookParseError


def check_send_limits(
    message: OutboundMessage,
    carrier: str,
    *,
    max_recipients: int = 1,
    max_text: int | None = None,
    max_media: int | None = None,
    needs_content: bool = False,
    per: str = "message",
) -> None:
    """Raise a permanent :class:`CarrierError` for ``message`` beyond ``carrier``'s limits, checked in this order.

    Exactly one recipient (1 to ``max_recipients`` when more are allowed, counted ``per`` message or batch); at
    most ``max_text`` characters and ``max_media`` attachments when given; text or media when ``needs_content``.
    """
    count = len(message.to_numbers)
    if max_recipients == 1 and count != 1:
        raise CarrierError(f"sends to exactly one number per {per}, not {count}", carrier=carrier)
    if not 1 <= count <= max_recipients:
        raise CarrierError(f"sends to 1 to {max_recipients} numbers per {per}, not {count}", carrier=carrier)
    if max_text is not None and len(message.text) > max_text:
        raise CarrierError(f"text is {len(message.text)} characters; the limit is {max_text}", carrier=carrier)
    if max_media is not None and len(message.media_urls) > max_media:
        raise CarrierError(
            f"{len(message.media_urls)} attachments; the limit is {max_media} per message", carrier=carrier
        )
    if needs_content and not message.text and not message.media_urls:
        raise CarrierError("a message needs text or media", carrier=carrier)


def json_document(body: bytes) -> Any:
    """A webhook body parsed as JSON, else WebhookParseError."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as err:
        raise WebhookParseError("the body is not JSON") from err


def json_object(body: bytes) -> dict[str, Any]:
    """A webhook body that is one JSON object, else WebhookParseError."""
    document = json_document(body)
    if not isinstance(document, dict):
        raise WebhookParseError("the body is not a JSON object")
    return document


def require_object(value: object, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else WebhookParseError naming ``where``."""
    if not isinstance(value, dict):
        raise WebhookParseError(f"{where} is not an object")
    return value


def require_list(value: object, where: str) -> list[Any]:
    """``value`` if it is a JSON list, else WebhookParseError naming ``where``."""
    if not isinstance(value, list):
        raise WebhookParseError(f"{where} is not a list")
    return value


def require_string(value: object, where: str) -> str:
    """``value`` if it is a non-empty string, else WebhookParseError saying ``where`` is missing."""
    if not isinstance(value, str) or not value:
        raise WebhookParseError(f"{where} is missing")
    return value


def code_text(value: object) -> str | None:
    """A carrier's code, given as text or a number, as text; None when absent, empty or of another type."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when the carrier gives no zone); None if absent or bad."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def response_json(response: requests.Response) -> Any:
    """The JSON a carrier answered with, or None when the answer is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
