"""One live carrier adapter per carrier account, rebuilt when the account's credentials change."""

from __future__ import annotations

from fspbx_sms.carriers import CarrierAdapter, get_adapter_class
from fspbx_sms.core.secrets import CredentialBox
from fspbx_sms.models import CarrierAccount


class AdapterCache:
    """Keeps each account's adapter (and so its HTTP session) between sends and webhooks."""

    def __init__(self, box: CredentialBox):
        self._box = box
        self._adapters: dict[int, tuple[str, CarrierAdapter]] = {}

    def get(self, account: CarrierAccount) -> CarrierAdapter:
        """The adapter for ``account``, built from its decrypted credentials."""
        cached = self._adapters.get(account.id)
        if cached is not None and cached[0] == account.credentials_encrypted:
            return cached[1]
        adapter = get_adapter_class(account.provider)(
            self._box.open(account.credentials_encrypted), webhook_secret=account.webhook_secret
        )
        if cached is not None:
            cached[1].close()
        self._adapters[account.id] = (account.credentials_encrypted, adapter)
        return adapter

    def close(self) -> None:
        """Close every adapter's HTTP session."""
        for _, adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
