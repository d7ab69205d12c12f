"""The running service's shared parts, built once and handed to the web app and handlers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fspbx_sms.config import Settings
from fspbx_sms.core.adapters import AdapterCache
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_store import build_media_store
from fspbx_sms.core.routing import RoutingPolicy
from fspbx_sms.core.secrets import CredentialBox, derive_key, load_master_key
from fspbx_sms.esl import EslClient


@dataclass
class Services:
    """Everything a request or a job needs: settings, database, carrier adapters, FreeSWITCH connections."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    box: CredentialBox
    adapters: AdapterCache
    policy: RoutingPolicy
    esl_clients: Sequence[EslClient] = ()
    #: Wakes this process's outbox workers after new jobs were committed (one per job, by default one).
    notify_workers: Callable[..., None] = lambda jobs=1: None
    #: Media files (uploads and inbound MMS) and their signed links.
    media: MediaLibrary = field(init=False)
    #: Signs the dashboard's session cookies.
    session_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        master = load_master_key(self.settings)
        self.media = MediaLibrary(
            build_media_store(self.settings), derive_key(master, "media"), self.settings.media_url_ttl
        )
        self.session_key = derive_key(master, "session")
