"""Phone number handling: everything we store is E.164."""

from __future__ import annotations

import phonenumbers


class InvalidNumber(ValueError):
    """A string that is not a valid phone number."""


def to_e164(raw: str, default_region: str = "US") -> str:
    """Normalise ``raw`` (``+1 555 000 1001``, ``5550001001``) to E.164, or raise InvalidNumber."""
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as err:
        raise InvalidNumber(f"{raw!r} is not a phone number: {err}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def looks_like_phone_number(text: str) -> bool:
    """True for strings a person dials as an outside number (digits, optional leading +, 7+ digits)."""
    digits = text[1:] if text.startswith("+") else text
    return digits.isdigit() and len(digits) >= 7


def from_carrier(number: str, default_region: str = "US") -> str:
    """A number as a carrier wrote it, in E.164: several carriers (Plivo, Sinch, Vonage) send international
    numbers as bare digits (``447700900000``); short codes and other non-numbers are kept as they are."""
    text = number.strip()
    if text.isdigit() and len(text) > 10:
        return "+" + text
    try:
        return to_e164(text, default_region)
    except InvalidNumber:
        return text
