"""A stand-in API: refuses to start without its database, then answers {"status": "OK"}."""

import http.server
import json
import socket
import sys

port, db_port = int(sys.argv[1]), int(sys.argv[2])
try:
    socket.create_connection(("127.0.0.1", db_port), timeout=1).close()
except OSError as exc:
    sys.exit(f"api: cannot reach the database on {db_port}: {exc}")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "OK", "service": "hello-api"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"api: {self.command} {self.path}", flush=True)


print(f"api: listening on {port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
