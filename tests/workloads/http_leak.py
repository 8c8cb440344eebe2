"""A threaded http.server JSON service with a leak at one line (wl.py
http_leak): each request builds and encodes a ~15 KB JSON response (the
churn, freed when the response is sent) and keeps ~5 KB of small objects
(the leak: 40 records, all in pymalloc, at the line marked SITE leak)."""
import http.client
import http.server
import json
import threading
import time

LEAK = []


class Rec:
    """A kept record: a class of its own, so that no free list of the
    churn's dicts and lists hands its memory over (tracemalloc would then
    name the churn's line for it)."""
    __slots__ = ("n", "path", "at")

    def __init__(self, n, path):
        self.n = n
        self.path = path
        self.at = None


class Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out at once

    def do_GET(self):
        body = json.dumps([{"i": i, "name": "item-%d" % i, "vals": list(range(20))}
                           for i in range(100)]).encode()
        LEAK.append([Rec(i, self.path) for i in range(80)])  # SITE leak
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_and_load(n):
    """Serve on a free port from a thread; make n requests over one
    keep-alive connection from this one."""
    http.server.ThreadingHTTPServer.protocol_version = "HTTP/1.1"
    Handler.protocol_version = "HTTP/1.1"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1])
    t0 = time.perf_counter()
    for i in range(n):
        conn.request("GET", "/r/%d" % i)
        conn.getresponse().read()
    srv.requests_seconds = time.perf_counter() - t0  # without the shutdown's 0.5 s poll
    conn.close()
    srv.shutdown()
    return srv
