"""Reading untrusted webhook payloads: small checks every JSON carrier needs, raising only WebhookParseError."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests

from fspbx_sms.carriers.base import WebhookParseError


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
