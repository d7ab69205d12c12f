"""The composition root: builds every part from the settings and runs them in one gevent process."""

from __future__ import annotations

import logging
import signal

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer

from fspbx_sms.config import Settings
from fspbx_sms.core.adapters import AdapterCache
from fspbx_sms.core.delivery import CarrierSend
from fspbx_sms.core.email_copy import EmailCopy, SmtpSettings
from fspbx_sms.core.media_fetch import MediaFetch
from fspbx_sms.core.media_store import MediaStoreError
from fspbx_sms.core.outbox import Backoff
from fspbx_sms.core.phone_events import PhoneEvents
from fspbx_sms.core.push import PushNotify
from fspbx_sms.core.retention import cutoff_for, purge_before, purge_early_statuses
from fspbx_sms.core.routing import RoutingPolicy
from fspbx_sms.core.secrets import CredentialBox, load_master_key
from fspbx_sms.core.services import Services
from fspbx_sms.core.sip_delivery import SipDelivery
from fspbx_sms.core.transcription import Transcribe
from fspbx_sms.core.workers import WorkerPool
from fspbx_sms.db import make_engine, make_session_factory, session_scope, upgrade
from fspbx_sms.esl import EslClient
from fspbx_sms.models import JobKind
from fspbx_sms.web import create_app

log = logging.getLogger(__name__)


def build_services(settings: Settings) -> Services:
    """Database, secrets and carrier adapters: what every command needs (no connections opened yet)."""
    # Each outbox worker holds a connection while it claims or records; web requests need their own.
    engine = make_engine(settings.database_url, connections=settings.workers + 8)
    box = CredentialBox(load_master_key(settings))
    return Services(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        box=box,
        adapters=AdapterCache(box),
        policy=RoutingPolicy(
            max_attempts=settings.job_max_attempts,
            default_region=settings.default_region,
            help_reply=settings.help_reply,
            voicemail_template=settings.voicemail_sms_template,
            transcribe_voicemail=bool(settings.transcription_command),
        ),
    )


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    """Where email copies go, or None when no SMTP server is configured."""
    if not settings.smtp_host:
        return None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_user,
        password=settings.smtp_password,
        sender=settings.smtp_from,
    )


def purge_expired(services: Services, days: int | None = None) -> int:
    """Purge messages older than ``days`` (default: the retention setting) and their unused media files."""
    with session_scope(services.sessions) as session:
        result = purge_before(session, cutoff_for(days if days is not None else services.settings.retention_days))
    for key in result.orphaned_storage_keys:
        try:
            services.media.delete(key)
        except MediaStoreError as err:
            log.warning("purged media %s left in the store: %s", key, err)
    return result.messages


class Service:
    """HTTP server, FreeSWITCH connections and outbox workers, started and stopped together."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.services = build_services(settings)
        self.pool: WorkerPool | None = None
        self.http: WSGIServer | None = None
        self._janitor: gevent.Greenlet | None = None
        self._stopped = gevent.event.Event()

    def start(self) -> None:
        """Migrate the schema, then start ESL, workers and HTTP (returns once listening)."""
        settings, services = self.settings, self.services
        upgrade(services.engine)
        events = PhoneEvents(
            services.sessions, services.policy, lambda jobs=1: services.notify_workers(jobs), services.media
        )
        if settings.run_esl:
            services.esl_clients = [
                EslClient(
                    node.host,
                    node.port,
                    node.password,
                    name=node.name,
                    on_phone_text=events.phone_text,
                    on_registration=events.registration,
                    on_connected=events.connected,
                    on_resync=events.resync,
                    on_voicemail=events.voicemail,
                    command_timeout=settings.esl_command_timeout,
                    heartbeat_timeout=settings.esl_heartbeat_timeout,
                )
                for node in settings.nodes()
            ]
        if settings.run_workers:
            self.pool = WorkerPool(
                services.sessions,
                {
                    JobKind.SIP: SipDelivery(
                        services.sessions,
                        services.esl_clients,
                        settings.sip_result_timeout,
                        max_bytes=settings.sip_max_bytes,
                        waiting_email_after=settings.waiting_email_after,
                        media=services.media,
                        base_url=settings.base_url,
                    ),
                    JobKind.CARRIER: CarrierSend(
                        services.sessions, services.adapters, services.media, settings.base_url
                    ),
                    JobKind.EMAIL: EmailCopy(
                        services.sessions, smtp_settings(settings), settings.base_url, services.media
                    ),
                    JobKind.NOTIFY: PushNotify(services.sessions, services.media, settings.base_url),
                    JobKind.TRANSCRIBE: Transcribe(
                        services.sessions, settings.transcription_command, settings.job_max_attempts
                    ),
                    JobKind.MEDIA: MediaFetch(
                        services.sessions, services.adapters, services.media, settings.media_max_bytes
                    ),
                },
                size=settings.workers,
                lease_seconds=settings.job_lease_seconds,
                backoff=Backoff(settings.job_backoff_initial, settings.job_backoff_max),
                poll_interval=settings.job_poll_interval,
            )
            services.notify_workers = self.pool.notify
        for client in services.esl_clients:
            client.start()
        if self.pool is not None:
            self.pool.start()
            self._janitor = gevent.spawn(self._purge_daily)
        self.http = WSGIServer(
            (settings.http_host, settings.http_port),
            create_app(services),
            log=None,
            error_log=logging.getLogger("fspbx_sms.http"),
        )
        self.http.start()
        log.info(
            "fspbx-sms listening on http://%s:%s (public URL %s)",
            settings.http_host,
            self.http.server_port,
            settings.base_url,
        )

    def _purge_daily(self) -> None:
        """Once a day (the first time a minute after start): forget status callbacks kept a day for messages
        that never turned up, and purge messages older than the retention age when one is set."""
        gevent.sleep(60)
        while True:
            try:
                with session_scope(self.services.sessions) as session:
                    forgotten = purge_early_statuses(session, cutoff_for(1))
                if forgotten:
                    log.info("%d status callback(s) for messages that are not ours forgotten", forgotten)
                if self.settings.retention_days:
                    removed = purge_expired(self.services)
                    log.info("retention: %d message(s) older than %d days purged", removed,
                             self.settings.retention_days)
            except Exception:
                log.exception("daily purge failed; trying again tomorrow")
            gevent.sleep(24 * 3600)

    def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then stop cleanly."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, self._stopped.set)
        self._stopped.wait()
        self.stop()

    def stop(self) -> None:
        """Stop accepting requests, let running jobs finish, close connections."""
        if self.http is not None:
            self.http.stop(timeout=5)
        if self._janitor is not None:
            self._janitor.kill()
        if self.pool is not None:
            self.pool.stop()
        for client in self.services.esl_clients:
            client.stop()
        self.services.adapters.close()
        self.services.engine.dispose()
        log.info("fspbx-sms stopped")
