"""A Telnyx account for end-to-end tests: provisioned through the CLI, webhooks signed as Telnyx signs them."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path

from nacl.signing import SigningKey

PAYLOADS = Path(__file__).parent / "payloads" / "telnyx"


def fixture(name: str) -> dict:
    """One documented Telnyx payload, parsed."""
    return json.loads((PAYLOADS / name).read_bytes())


class Telnyx:
    """What the test knows about the Telnyx account: its signing key and our account's webhook path."""

    def __init__(self, service, httpserver):
        self.key = SigningKey.generate()
        public = base64.b64encode(bytes(self.key.verify_key)).decode()
        account = service.cli_json(
            "carrier", "add", "--provider", "telnyx", "--name", "telnyx-main",
            "--set", "api_key=KEY-test-secret", "--set", f"public_key={public}",
            "--set", f"base_url={httpserver.url_for('').rstrip('/')}",
        )
        self.webhook_path = f"/webhooks/telnyx/{account['id']}"
        assert account["webhook_url"] == service.base_url + self.webhook_path
        self.service = service

    def post(self, body: bytes, *, timestamp: int | None = None, key: SigningKey | None = None):
        """POST a webhook signed the way Telnyx signs: Ed25519 over ``timestamp|body``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = (key or self.key).sign(stamp.encode() + b"|" + body).signature
        return self.service.post(self.webhook_path, body, {
            "Content-Type": "application/json",
            "telnyx-timestamp": stamp,
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        })


def received(our_number: str, sender: str, text: str, message_id: str) -> bytes:
    """Telnyx's documented message.received example, carrying this text between these numbers."""
    payload = copy.deepcopy(fixture("message-received-sms.json"))
    data = payload["data"]["payload"]
    data["id"] = message_id
    data["from"]["phone_number"] = sender
    data["to"][0]["phone_number"] = our_number
    data["text"] = text
    return json.dumps(payload, ensure_ascii=False).encode()
