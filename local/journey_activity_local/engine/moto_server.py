"""moto in server mode, inside the local engine's process, for the handlers' worker processes.

The engine itself talks to moto in-process (``mock_aws``); handlers run in worker processes
(:mod:`journey_activity_local.runtime.lambda_runtime`) and reach the same AWS over HTTP, through
``AWS_ENDPOINT_URL``. Both paths land on the same backends: moto's server
(``moto.moto_server.threaded_moto_server.ThreadedMotoServer``) dispatches each request to
``moto.backends.get_backend(service)`` (``werkzeug_app.create_backend_app``), the process-wide
``BackendDict`` that ``mock_aws`` uses too. So the ledger a worker writes is the table the engine
reads, a worker's ``SendTaskSuccess`` resumes the engine's waiting task, and the engine's moto
patches (:mod:`journey_activity_local.stack`) hold for requests from either side.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Self

log = logging.getLogger(__name__)


class MotoServer:
    """``with MotoServer() as server: server.url`` — moto's HTTP API on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        # One access-log line per AWS call would bury the functions' own logs.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._started = False
        self.url = ""

    def start(self) -> Self:
        if not self._started:
            self._server.start()
            self._started = True
            host, port = self._server.get_host_and_port()
            self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop serving; the serving thread notices within its half-second poll, on a thread of its
        own, so an environment's teardown does not wait for it (its port is never reused here)."""
        if self._started:
            self._started = False
            threading.Thread(target=self._stop, name="moto-server-stop", daemon=True).start()

    def _stop(self) -> None:
        with contextlib.suppress(Exception):  # a server already gone is stopped
            self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
