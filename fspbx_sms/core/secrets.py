"""The service's secret key: where it comes from, and what is derived from it (credential encryption)."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fspbx_sms.config import ConfigError, Settings


def load_master_key(settings: Settings) -> bytes:
    """The master key: ``FSPBX_SMS_SECRET_KEY`` if set, else the key file (made 0600 on first use)."""
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ConfigError("secret_key", "must be at least 32 characters")
        return settings.secret_key.encode()
    path = Path(settings.secret_key_file)
    if not path.exists():
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        except OSError as err:
            raise ConfigError("secret_key_file", f"cannot create {path}: {err.strerror}") from None
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError("secret_key_file", f"{path} must hold at least 32 characters")
    return key.encode()


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (``credentials``, ``session``, ``media``), independent of the others."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


class CredentialBox:
    """Encrypts carrier credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, master: bytes):
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(master, "credentials")))

    def seal(self, credentials: dict[str, str]) -> str:
        """Encrypt a credentials dict to a token for the database."""
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        """Decrypt a token written by :meth:`seal`; a wrong key is a configuration error."""
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigError(
                "secret_key", "cannot decrypt stored carrier credentials: the secret key changed"
            ) from None
