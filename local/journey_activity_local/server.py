"""What the local HTTP servers share: a threaded server on 127.0.0.1 run in a daemon thread,
that closes kept-alive connections when it stops."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

log = logging.getLogger(__name__)

# How often serve_forever looks for a shutdown request: stop() waits up to this long.
POLL_SECONDS = 0.05


class TrackingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) resets connections when a Map's iterations all call at once.
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a sender's read timeout) is normal here, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("client went away", extra={"client": client_address, "error": str(error)})
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End kept-alive connections too: after stop, a client must see the server gone."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class LocalServer:
    """``with Server(...) as server: server.url`` — start, stop (idempotent), url."""

    thread_name = "local-server"

    def __init__(self, server: TrackingHTTPServer) -> None:
        self._server = server
        host, port = server.socket.getsockname()[:2]
        self._url = f"http://{host}:{port}"
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def url(self) -> str:
        return self._url

    def start(self) -> Self:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(POLL_SECONDS,), name=self.thread_name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close its socket; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
