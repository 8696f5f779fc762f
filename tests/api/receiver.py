"""A real HTTP server on loopback that receives webhooks for tests.

It runs in a thread, records every request (headers, raw body and which
connection it came on) and answers with the status codes it is given in turn
(200 once they run out). It keeps connections alive as HTTP/1.1 servers do,
unless ``keep_alive=False`` (HTTP/1.0: one request per connection).
"""

import itertools
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # Which connection it came on: connections are numbered as they are accepted
    # (a client's port can be reused on loopback, so it is no identity).
    connection: int


class Receiver:
    def __init__(self, statuses: list[int] | None = None, *, keep_alive: bool = True):
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self.accepted = itertools.count(1)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            # The status line and the body go out in separate writes; without this,
            # Nagle's algorithm holds the body until the client's delayed ACK.
            disable_nagle_algorithm = True

            def setup(self):
                super().setup()
                self.connection_number = next(receiver.accepted)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(
                    Received(
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        connection=self.connection_number,
                    )
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                reply = b"ok" if status < 300 else b"receiver says no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    @property
    def connections(self) -> list[int]:
        """The connections requests came on, in the order each was first used."""
        return list(dict.fromkeys(request.connection for request in self.received))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
