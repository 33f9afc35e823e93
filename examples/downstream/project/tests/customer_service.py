"""A tiny customer service on localhost, started by the tests that need it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CUSTOMERS = {
    "c1": {"country": "se", "tier": "gold"},
    "c2": {"country": "de", "tier": "silver"},
    "c3": {"country": "fr", "tier": "bronze"},
    "c4": {"country": "de", "tier": "gold"},
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        customer = CUSTOMERS.get(self.path.rsplit("/", 1)[-1])
        body = json.dumps(customer).encode()
        self.send_response(200 if customer else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def running() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def down() -> str:
    """The address of a service that is not there: a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
