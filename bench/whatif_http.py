#!/usr/bin/env python3
"""Round trips of POST /api/v1/what-if on a running server, over one kept-alive
loopback connection (so close to server time).

    python3 bench/whatif_http.py http://127.0.0.1:18089 [NAMESPACE]
"""
import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlparse

url = urlparse(sys.argv[1])
ns = sys.argv[2] if len(sys.argv) > 2 else "ns-042"
c = http.client.HTTPConnection(url.hostname, url.port, timeout=300)


def timed(method, path, body=None, n=30):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.request(method, path, body=body, headers={"content-type": "application/json"} if body else {})
        r = c.getresponse()
        data = r.read()
        times.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, (r.status, data[:300])
    times.sort()
    return len(data), times


size, first = timed("GET", "/api/v1/graph", n=1)
print(f"GET /api/v1/graph, first (reads the snapshot, builds and caches the graph): {first[0]:.0f} ms, {size} bytes")
for label, change in [
    (f"assign restricted, enforce to namespace/{ns}", {"assign": {"target": f"namespace/{ns}", "profile": "restricted", "mode": "enforce"}}),
    (f"assign restricted, warn to namespace/{ns}", {"assign": {"target": f"namespace/{ns}", "profile": "restricted", "mode": "warn"}}),
    (f"remove NetworkPolicy {ns}/same-namespace", {"networkPolicy": {"remove": f"{ns}/same-namespace"}}),
]:
    size, t = timed("POST", "/api/v1/what-if", json.dumps({"changes": [change]}))
    print(f"{label}: median {statistics.median(t):.1f} ms, p90 {t[int(len(t) * 0.9)]:.1f} ms, min {t[0]:.1f} ms ({size} bytes)")
size, t = timed("GET", "/api/v1/graph", n=10)
print(f"GET /api/v1/graph, cached: median {statistics.median(t):.0f} ms ({size} bytes)")
