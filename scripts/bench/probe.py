#!/usr/bin/env python3
"""One keep-alive connection, N requests: the time to the first event of a streamed answer, or
the round trip of a plain one, and the relay's x-steadfast-overhead-ms when it says one.

Usage: probe.py first-event|round-trip|idle-trip URL KEY [N]
(idle-trip: a round trip after 3 ms without a request, so that every process on the path
sleeps in between.)
Prints: p50 p99 [overhead_p50 overhead_p99] (milliseconds)."""
import http.client
import sys
import time
import urllib.parse

mode, url, key = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 500
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
body = b'{"contents":[{"parts":[{"text":"hello there, how are you today?"}]}]}'
headers = {"x-goog-api-key": key, "Content-Type": "application/json"}
stream = mode == "first-event"
path = "/v1beta/models/gemini-2.5-flash:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")
times, overheads = [], []
for i in range(n + 50):
    if mode == "idle-trip":
        time.sleep(0.003)
    start = time.perf_counter()
    conn.request("POST", path, body, headers)
    response = conn.getresponse()
    if stream:
        seen = b""
        while b"\n\n" not in seen:
            line = response.readline()
            if not line:
                break
            seen += line.replace(b"\r\n", b"\n")
        took = time.perf_counter() - start
        response.read()
    else:
        response.read()
        took = time.perf_counter() - start
    if i >= 50:  # the first 50 warm up
        times.append(took * 1000)
        o = response.getheader("x-steadfast-overhead-ms")
        if o is not None:
            overheads.append(float(o))
at = lambda xs, q: sorted(xs)[max(0, int(len(xs) * q + 0.5) - 1)]
out = [at(times, 0.5), at(times, 0.99)]
if overheads:
    out += [at(overheads, 0.5), at(overheads, 0.99)]
print(" ".join(f"{v:.3f}" for v in out))
