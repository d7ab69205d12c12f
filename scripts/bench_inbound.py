"""Benchmark: signed Telnyx webhooks in, SIP MESSAGEs out, through the real ``fspbx-sms run``.

Starts the service on a fresh database (SQLite file, or PostgreSQL with --postgres ADMIN_URL), the ESL
simulator as FreeSWITCH with one registered phone, posts N signed ``message.received`` webhooks from
several client threads, and reports:

- webhook acceptance rate (each answered 200 only after the message and its job are committed);
- end-to-end rate until the phone has received every text (bgapi chat over ESL, one job per text).

Run from the repository root:  .venv/bin/python scripts/bench_inbound.py --texts 2000 --clients 8
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from nacl.signing import SigningKey
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fspbx_sms.db import driver_url
from tests.esl_simulator import EslSimulator
from tests.service_process import ServiceProcess

PAYLOAD = Path(__file__).resolve().parent.parent / "tests" / "payloads" / "telnyx" / "message-received-sms.json"


def _admin(postgres: str, statement: str) -> None:
    admin = create_engine(driver_url(postgres), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(statement))
    admin.dispose()


def _database(workdir: Path, postgres: str) -> tuple[str, str]:
    """A fresh database for the run: its URL, and its name on PostgreSQL (to drop afterwards)."""
    if not postgres:
        return f"sqlite:///{workdir / 'bench.sqlite3'}", ""
    name = f"fspbx_bench_{uuid.uuid4().hex[:8]}"
    _admin(postgres, f'CREATE DATABASE "{name}"')
    return postgres.rsplit("/", 1)[0] + "/" + name, name


def main() -> None:
    """Run the benchmark once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--extensions", type=int, default=10, help="texts are spread over this many extensions")
    parser.add_argument("--postgres", default="", help="admin URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fspbx-bench-"))
    database_url, database_name = _database(workdir, args.postgres)
    simulator = EslSimulator(answer_delay=0.0).start()
    extensions = [str(1001 + n) for n in range(args.extensions)]
    for extension in extensions:
        simulator.register(extension, "pbx.test")
    env = {
        "FSPBX_SMS_DATABASE_URL": database_url,
        "FSPBX_SMS_ESL_HOST": simulator.host,
        "FSPBX_SMS_ESL_PORT": str(simulator.port),
        "FSPBX_SMS_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "FSPBX_SMS_LOG_LEVEL": "WARNING",
        "FSPBX_SMS_WORKERS": "16",
    }
    service = ServiceProcess(env, workdir)
    key = SigningKey.generate()
    public = base64.b64encode(bytes(key.verify_key)).decode()
    account = service.cli_json("carrier", "add", "--provider", "telnyx", "--name", "bench",
                               "--set", "api_key=bench", "--set", f"public_key={public}")
    for n, extension in enumerate(extensions):
        number = f"+1555000{2000 + n}"
        service.cli("number", "add", number, "--carrier", "bench", "--extension", f"{extension}@pbx.test")
    service.start()
    service.wait_esl_connected()
    template = json.loads(PAYLOAD.read_bytes())
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=args.clients, pool_maxsize=args.clients)
    session.mount("http://", adapter)

    def post(n: int) -> int:
        payload = json.loads(json.dumps(template))
        payload["data"]["payload"].update(id=f"bench-{n}", text=f"benchmark text {n}")
        payload["data"]["payload"]["to"][0]["phone_number"] = f"+1555000{2000 + n % len(extensions)}"
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + b"|" + body).signature).decode()
        headers = {"Content-Type": "application/json", "telnyx-timestamp": stamp,
                   "telnyx-signature-ed25519": signature}
        return session.post(f"{service.base_url}/webhooks/telnyx/{account['id']}", data=body, headers=headers,
                            timeout=30).status_code

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(post, range(args.texts)))
        accepted = time.monotonic() - started
        simulator.wait_for(lambda: len(simulator.deliveries) >= args.texts, timeout=600)
        delivered = time.monotonic() - started
    finally:
        service.stop()
        simulator.stop()
        if database_name:
            _admin(args.postgres, f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')
    bodies = sorted(d.body for d in simulator.deliveries)
    assert statuses == [200] * args.texts, f"non-200 answers: {sorted(set(statuses))}"
    assert bodies == sorted(f"benchmark text {n}".encode() for n in range(args.texts)), "lost or doubled texts"
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}: {args.texts} texts to {len(extensions)} extensions, {args.clients} clients")
    print(f"  webhooks accepted: {args.texts / accepted:,.0f}/s ({accepted:.1f} s)")
    print(f"  delivered to the phone, end to end: {args.texts / delivered:,.0f}/s ({delivered:.1f} s)")
    print("  every text delivered exactly once")


if __name__ == "__main__":
    main()
