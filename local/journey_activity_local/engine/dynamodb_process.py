"""The local ledger's DynamoDB in a process of its own, as DynamoDB runs apart from the rest on AWS.

The embedded engine's process holds moto's Step Functions interpreter, the local Lambda endpoint,
the HTTP API, the provider stand-ins and moto's server for the functions' AWS calls, all under one
GIL. The functions' DynamoDB calls (the ledger: a few per endpoint) were most of that process's
work, queued behind the interpreter on one core while the machine's other core waited. Here moto's
DynamoDB answers from a child process of its own, on 127.0.0.1: the functions (worker processes)
and the engine's own clients reach it at ``AWS_ENDPOINT_URL_DYNAMODB``, over the same HTTP wire
protocol as before (the functions already reached moto over HTTP), so every answer and error is
the same moto code's, with the same patches: the engine's DynamoDB speed patches
(:func:`journey_activity_local.engine.engine_patches.install_dynamodb`), one request at a time as DynamoDB
applies each item write atomically, a Query reading its one partition, no tracking of replaced
items, and the capacity meter (:mod:`journey_activity_local.engine.dynamodb_units`), whose counts the parent
reads and resets through the control pipe (:meth:`DynamoDBProcess.units`).

A test session starts many environments one after another, and the child's start (importing
moto's server, its checks and patches) is most of an environment's set-up: with
:func:`keep_spares` on, an environment that ends starts the next one's child
(:meth:`DynamoDBProcess.prepare_spare`) and :meth:`DynamoDBProcess.take` hands it out (a fresh
process: nothing of an earlier run is in it). Off by default: a single ``run`` has no next
environment to start one for.

Control protocol: the child writes its URL as the first line of its control stream, then answers
each command line (``reset``, ``snapshot``) with one JSON line. It ends when its stdin closes (the
parent stopped, or died), so no child outlives its run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
from typing import IO, Any, Self

STARTUP_SECONDS = 60.0

_spares: dict[tuple[str, str], DynamoDBProcess] = {}
_spares_lock = threading.Lock()
_keep_spares = False


def keep_spares(keep: bool = True) -> None:
    """Keep one spare child started ahead for the next :meth:`DynamoDBProcess.take` (see above)."""
    global _keep_spares
    with _spares_lock:
        if keep and not _keep_spares:
            atexit.register(keep_spares, False)
        _keep_spares = keep
        left = [] if keep else list(_spares.values())
        if not keep:
            _spares.clear()
    for spare in left:
        spare.stop()


class DynamoDBProcess:
    """``with DynamoDBProcess() as dynamodb: dynamodb.url`` — moto's DynamoDB in a child process."""

    def __init__(self, region: str, account: str) -> None:
        self.region, self.account = region, account
        self.url = ""
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def take(cls, region: str, account: str) -> DynamoDBProcess:
        """A started child: the spare kept for this Region and account if there is one (see
        :func:`keep_spares`), else a new one."""
        with _spares_lock:
            spare = _spares.pop((region, account), None)
        if spare is not None and spare.running:
            return spare
        if spare is not None:
            spare.stop()
        return cls(region, account).start()

    @classmethod
    def prepare_spare(cls, region: str, account: str) -> None:
        """With spares kept, start the next environment's child now (an environment calls it as it
        ends, so the spare's start does not compete with a run for the machine)."""
        with _spares_lock:
            if _keep_spares and (region, account) not in _spares:
                _spares[(region, account)] = cls(region, account).start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the child; :meth:`wait_ready` gives its URL (the parent sets up meanwhile)."""
        environment = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": self.region,
                       "AWS_REGION": self.region, "JOURNEY_ACTIVITY_LOCAL_ACCOUNT": self.account}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "journey_activity_local.engine.dynamodb_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment, bufsize=1)
        return self

    def wait_ready(self) -> str:
        if not self.url:
            line = self._read_line()
            if not line.startswith("http://"):
                raise RuntimeError(f"the local DynamoDB process did not start: {line!r}")
            self.url = line
        return self.url

    def _read_line(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        return self._process.stdout.readline().strip()

    def _ask(self, command: str) -> Any:
        with self._lock:
            assert self._process is not None
            assert self._process.stdin is not None
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
            return json.loads(self._read_line())

    def units(self, *, reset: bool = False) -> dict[str, float]:
        """The capacity units the child has counted since the last reset (see dynamodb_units)."""
        counted = dict(self._ask("snapshot"))
        if reset:
            self._ask("reset")
        return counted

    def reset_units(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        """End the child at once: it holds nothing to save (its tables are this run's only)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            assert process.stdin is not None
            process.stdin.close()
        with contextlib.suppress(OSError):
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(control: IO[str]) -> None:
    """The child: moto's server with the patched DynamoDB, and the control loop on stdin."""
    import logging

    from moto.dynamodb.models import dynamodb_backends
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from journey_activity_local.engine import dynamodb_patches, dynamodb_units, engine_patches, verified

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    verified.preflight()
    engine_patches.install_dynamodb()
    dynamodb_patches.install_dynamodb_patches(dynamodb_backends[os.environ["JOURNEY_ACTIVITY_LOCAL_ACCOUNT"]]
                                   [os.environ["AWS_REGION"]])
    dynamodb_units.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    control.write(f"http://{host}:{port}\n")
    control.flush()
    for line in sys.stdin:
        command = line.strip()
        if command == "snapshot":
            answer: Any = dynamodb_units.snapshot()
        elif command == "reset":
            dynamodb_units.reset()
            answer = None
        else:
            answer = {"error": f"unknown command {command!r}"}
        control.write(json.dumps(answer) + "\n")
        control.flush()
    with contextlib.suppress(Exception):
        server.stop()


def main() -> None:
    # The control stream is this process's original stdout; anything else printed (moto's banner,
    # a library's warning) goes to stderr, so it cannot break the protocol.
    control = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(control)


if __name__ == "__main__":
    main()
