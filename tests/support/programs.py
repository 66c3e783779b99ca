"""Programs the tests run as services: small servers written into the stack folder and started
by devstack. Each is plain Python source (a string), standard library only."""

# A JSON health endpoint on 127.0.0.1:PORT answering {"status": "OK"}, after an optional delay.
# argv: PORT [DELAY]
HTTP_SERVER = r'''
import http.server, sys, time
port = int(sys.argv[1])
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
time.sleep(delay)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "OK"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"serving on {port}", flush=True)
server.serve_forever()
'''
