#!/usr/bin/env python3
"""The issue's kind of backend for bench/keepalive_judge: Python's stdlib
ThreadingHTTPServer (a thread per connection, the GIL), HTTP/1.1 keep-alive.
GET / answers {"version": V}; GET /healthz 200 until SIGTERM, which stops
accepting and exits once in-flight requests are done."""
import argparse
import http.server
import json
import signal
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends: without TCP_NODELAY the body
    # would wait for nginx's delayed ACK (40 ms) on a reused connection.
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path == "/healthz":
            body = b"draining" if self.server.draining else b"ok"
            status = 503 if self.server.draining else 200
        else:
            body = json.dumps({"version": self.server.version}).encode()
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.server.draining:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--version", required=True)
    a = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.version = a.version
    server.draining = False

    def drain(*_):
        server.draining = True
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, drain)
    signal.signal(signal.SIGINT, drain)
    server.serve_forever()


if __name__ == "__main__":
    main()
