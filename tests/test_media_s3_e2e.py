"""Media in an S3-compatible bucket, end to end: ``fspbx-sms run`` workers sharing one bucket, and a bucket
outage that delays pictures but never a text or a picture's loss. Loopback S3 (moto's server), the ESL
simulator, a loopback Telnyx."""

from __future__ import annotations

import base64
import copy
import json

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug import Request, Response

from fspbx_sms.config import load_settings
from fspbx_sms.core.media import MediaLibrary
from fspbx_sms.core.media_store import build_media_store
from fspbx_sms.core.secrets import derive_key, load_master_key
from fspbx_sms.models import Media, MessageEvent
from tests.dashboard_world import PNG
from tests.service_process import ServiceProcess
from tests.telnyx_account import Telnyx, fixture

EXT = "1001@pbx.test"
OURS = "+15550001001"
REMOTE = "+15557654321"


def _stored(db_engine) -> list[Media]:
    with Session(db_engine) as session:
        return [m for m in session.scalars(select(Media).order_by(Media.id)) if m.storage_key]


def _inbound_mms(httpserver) -> bytes:
    """Telnyx's documented inbound MMS, to our number, its picture served by the loopback carrier."""
    httpserver.expect_request("/media/pic").respond_with_data(PNG, content_type="image/png")
    payload = fixture("message-received-mms.json")
    data = payload["data"]["payload"]
    data["to"][0]["phone_number"] = OURS
    data["from"]["phone_number"] = REMOTE
    data["media"] = [{**data["media"][0], "url": httpserver.url_for("/media/pic")}]
    return json.dumps(payload).encode()


@pytest.fixture
def s3_service(service_env, tmp_path, s3_server):
    """Starts ``fspbx-sms run`` processes storing media in a bucket; stops them after the test."""
    started: list[ServiceProcess] = []

    def start(bucket, name: str, **extra: str) -> ServiceProcess:
        workdir = tmp_path / name
        workdir.mkdir()
        process = ServiceProcess({**service_env, **bucket.env(), **extra}, workdir=workdir)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def test_workers_share_media_through_the_bucket(s3_service, s3_bucket, esl, httpserver, db_engine):
    """Worker A downloads an inbound picture into the bucket; web-only worker B serves its signed link."""
    worker = s3_service(s3_bucket, "a")
    web = s3_service(s3_bucket, "b", FSPBX_SMS_RUN_WORKERS="false", FSPBX_SMS_RUN_ESL="false")
    telnyx = Telnyx(worker, httpserver)
    worker.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    worker.wait_esl_connected()

    assert telnyx.post(_inbound_mms(httpserver)).status_code == 200
    esl.wait_for(lambda: len(_stored(db_engine)) == 1, timeout=15)
    [media] = _stored(db_engine)
    assert s3_bucket.keys() == [f"media/{media.storage_key}"]
    assert s3_bucket.read(f"media/{media.storage_key}") == PNG
    assert not (worker.workdir / "media").exists() and not (web.workdir / "media").exists()

    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)
    settings = load_settings(worker.env)
    signed = MediaLibrary(build_media_store(settings), derive_key(load_master_key(settings), "media"), 60).signed_path(
        media.id
    )
    answer = requests.get(web.base_url + signed, timeout=10)
    assert (answer.status_code, answer.content, answer.headers["Content-Type"]) == (200, PNG, "image/png")
    forged = signed.replace("signature=", "signature=0")
    assert requests.get(web.base_url + forged, timeout=10).status_code == 403


def test_a_bucket_outage_delays_inbound_pictures_not_the_text(s3_service, s3_server, esl, httpserver, db_engine):
    """The bucket refuses writes: the text reaches the phone at once, the picture job retries until the
    bucket is back, then the picture is stored — nothing lost."""
    bucket = s3_server.bucket(create=False)
    worker = s3_service(bucket, "a")
    telnyx = Telnyx(worker, httpserver)
    worker.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    worker.wait_esl_connected()

    assert telnyx.post(_inbound_mms(httpserver)).status_code == 200
    esl.wait_for(lambda: len(esl.deliveries) == 1, timeout=10)

    def media_events() -> list[str]:
        with Session(db_engine) as session:
            return list(session.scalars(select(MessageEvent.detail).where(MessageEvent.kind == "media")))

    esl.wait_for(lambda: any("NoSuchBucket" in detail for detail in media_events()), timeout=15)
    assert _stored(db_engine) == []
    health = worker.health()
    assert (health["status"], health["database"]) == ("degraded", "ok")
    assert health["media"].startswith(f"error: S3 bucket '{bucket.name}'")
    bucket.create()
    assert worker.health()["status"] == "ok"
    esl.wait_for(lambda: len(_stored(db_engine)) == 1, timeout=15)
    assert bucket.keys() == [f"media/{_stored(db_engine)[0].storage_key}"]
    assert "test-secret-key-do-not-log" not in worker.log


def test_a_phone_picture_waits_for_the_bucket_then_goes_out_as_mms(
    s3_service, s3_server, esl, httpserver, db_engine
):
    """A phone sends a picture while the bucket refuses writes: the picture is kept with the message, the
    carrier send waits for it, and once the bucket is back the carrier gets an MMS whose link serves it."""
    sent: list[dict] = []

    def carrier_send(request: Request) -> Response:
        sent.append(request.get_json())
        body = copy.deepcopy(fixture("send-response.json"))
        body["data"]["id"] = f"sent-{len(sent)}"
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v2/messages", method="POST").respond_with_handler(carrier_send)
    bucket = s3_server.bucket(create=False)
    worker = s3_service(bucket, "a")
    Telnyx(worker, httpserver)
    worker.cli("number", "add", OURS, "--carrier", "telnyx-main", "--extension", EXT)
    esl.register("1001", "pbx.test")
    worker.wait_esl_connected()

    encoded = base64.b64encode(PNG)
    body = (b"--b1\r\nContent-Type: text/plain\r\n\r\nSee picture\r\n"
            b"--b1\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + encoded + b"\r\n--b1--\r\n")
    esl.phone_message("1001", REMOTE, body, content_type="multipart/mixed; boundary=b1")
    esl.wait_for(lambda: any("NoSuchBucket" in line for line in worker.log.splitlines()), timeout=15)
    assert sent == []

    bucket.create()
    esl.wait_for(lambda: len(sent) == 1, timeout=20)
    assert (sent[0]["to"], sent[0]["text"]) == (REMOTE, "See picture")
    [link] = sent[0]["media_urls"]
    answer = requests.get(link, timeout=10)
    assert (answer.status_code, answer.content) == (200, PNG)
