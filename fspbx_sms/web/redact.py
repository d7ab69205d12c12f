"""Hiding secrets in raw carrier payloads before they are shown."""

from __future__ import annotations

import re
from typing import Any

#: Keys whose values are never shown (credentials, signatures, tokens).
SECRET_KEY = re.compile(r"(secret|token|password|passwd|api[_-]?key|auth|signature|credential)", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with the values of secret-looking keys replaced by ``[redacted]``."""
    if isinstance(value, dict):
        return {key: REDACTED if SECRET_KEY.search(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
