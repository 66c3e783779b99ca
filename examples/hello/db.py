"""A stand-in database: opens its port after a second, like a real one warming up."""

import socket
import sys
import time

port = int(sys.argv[1])
print("db: warming up", flush=True)
time.sleep(1.0)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
print(f"db: accepting connections on {port}", flush=True)
while True:
    server.accept()[0].close()
