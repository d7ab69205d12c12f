"""Runs the installed ``fspbx-sms`` console script as a real subprocess, as an operator would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

#: The console script installed next to the interpreter running the tests (``pip install .`` puts it there).
FSPBX_SMS = str(Path(sys.executable).with_name("fspbx-sms"))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServiceProcess:
    """One ``fspbx-sms run`` process plus helpers for the provisioning commands, sharing one environment."""

    def __init__(self, env: dict[str, str], workdir: Path, *, public_url: str = ""):
        self.env = {**os.environ, **env}
        self.workdir = workdir
        #: The URL carriers are told to call (defaults to the local listener).
        self.public_url = public_url
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / "service.log"

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``fspbx-sms ARGS`` and return the finished process (text output)."""
        done = subprocess.run(
            [FSPBX_SMS, *args], env=self.env, cwd=self.workdir, input=input, capture_output=True, text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"fspbx-sms {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def cli_json(self, *args: str, input: str | None = None) -> dict:
        """Run a provisioning command and parse the JSON it prints."""
        return json.loads(self.cli(*args, input=input).stdout)

    @property
    def base_url(self) -> str:
        """Where the running service's HTTP server listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start ``fspbx-sms run`` and wait until ``/healthz`` answers."""
        self.port = self.port or free_port()
        # Provisioning commands run later print webhook URLs built from the same public URL.
        public_url = self.public_url or self.base_url
        self.env.update({"FSPBX_SMS_HTTP_PORT": str(self.port), "FSPBX_SMS_PUBLIC_URL": public_url})
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([FSPBX_SMS, "run"], env=self.env, cwd=self.workdir, stdout=log,
                                        stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"fspbx-sms run exited with {self.process.returncode}:\n{self.log}")
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"fspbx-sms run did not answer within {timeout}s:\n{self.log}")

    def health(self) -> dict:
        """The JSON of ``GET /healthz``."""
        return requests.get(self.base_url + "/healthz", timeout=5).json()

    def wait_esl_connected(self, timeout: float = 10.0) -> None:
        """Wait until the service reports its FreeSWITCH connection up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health()["esl_connected"]:
                return
            time.sleep(0.05)
        raise AssertionError(f"ESL never connected:\n{self.log}")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        """POST raw bytes to the service (webhooks)."""
        return requests.post(self.base_url + path, data=body, headers=headers, timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit (kill after 15 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"fspbx-sms run ignored SIGTERM:\n{self.log}") from None

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash or power loss."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def log(self) -> str:
        """Everything the service wrote to stdout/stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
