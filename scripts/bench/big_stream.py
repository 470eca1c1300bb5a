#!/usr/bin/env python3
"""An upstream that answers every POST with a streamed answer of SIZE_MB megabytes of SSE events
(for the relay's memory under a long stream). Usage: big_stream.py PORT SIZE_MB"""
import http.server
import sys

PORT, SIZE = int(sys.argv[1]), int(sys.argv[2]) * 1024 * 1024
TEXT = "x" * 65000
EVENT = ('data: {"candidates":[{"content":{"parts":[{"text":"%s"}],"role":"model"},"index":0}]}\r\n\r\n' % TEXT).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        while sent < SIZE:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(EVENT), EVENT))
            sent += len(EVENT)
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
