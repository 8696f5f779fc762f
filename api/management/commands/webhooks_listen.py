"""A local webhook receiver for trying webhooks by hand (development only).

    python manage.py webhooks_listen --port 9000 --secret whsec_...

Register http://localhost:9000/ as an endpoint in the employer portal, then
suspend a watched member: each message is printed with whether its signature
checks out. It answers 200 to every request.
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from api.webhooks import SignatureError, signature_verify


def receiver_server(*, port: int, secret: str, write) -> ThreadingHTTPServer:
    """An HTTP server on localhost that writes each message and its signature check."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if secret:
                try:
                    signature_verify(secret=secret, headers=dict(self.headers), body=body)
                    verdict = "signature OK"
                except SignatureError as error:
                    verdict = f"signature REFUSED: {error}"
            else:
                verdict = "signature not checked (no --secret)"
            write(f"{self.headers.get('webhook-id')} {verdict}")
            try:
                write(json.dumps(json.loads(body), indent=2))
            except ValueError:
                write(body.decode("utf-8", "replace"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


class Command(BaseCommand):
    help = "Receive webhooks on localhost and print them, checking their signatures."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument("--secret", default="", help="The endpoint's whsec_ secret.")

    def handle(self, *args, port: int, secret: str, **options):
        if settings.PRODUCTION:
            raise CommandError("webhooks_listen is for trying webhooks on a development machine.")
        server = receiver_server(port=port, secret=secret, write=self.stdout.write)
        self.stdout.write(f"Listening on http://localhost:{port}/ (Ctrl+C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
