"""Tests of clients/python/brood_client.py against a fake `brood serve` in this process.

    python3 -m unittest tests/clients/client_test.py -v      (from the repository's root)

The fake server (FakeBrood and its Handler) speaks the API's routes with canned answers; each
test scripts the answers it needs and checks what the server saw.
"""

import http.client
import http.server
import json
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import unittest
import urllib.parse
import uuid
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))
import brood_client  # noqa: E402
from brood_client import (  # noqa: E402
    BadRequest, BroodError, Client, Conflict, Forbidden, Gone, InvalidJob, NotFound,
    PayloadTooLarge, QueueFull, ServerError, SessionEnded, Unauthorized,
)

WAIT = 10  # seconds: how long a test waits for an event before it fails (never a delay)


# ---------------------------------------------------------------------------------------------
# The fake server


class FakeBrood:
    """The fake server's state: what it saw, and what the test scripted it to answer."""

    def __init__(self, token=None):
        self.token = token
        self.lock = threading.Lock()
        self.seen = []              # Request of every request, in order of arrival
        self.scripted = {}          # (method, path) -> [(status, headers, body)], used first
        self.batches = {}           # id -> {"records": [...], "state": ...}
        self.sessions = {}          # id -> {"request", "files": {path: bytes}, "execs": [...]}
        self.bodies = []            # the body of every session request, as received
        self.results_plans = []     # how to answer each results request (Handler.results)
        self.results_default = ("all",)
        self.results_after = []     # after= of each results request
        self.batch_lines = []       # the lines of the last batch body, as received
        self.on_batch_line = None   # called with (index, line) as each line arrives
        self.run_barrier = None     # run requests of jobs with "barrier": true wait on it
        self.reject_batches_early = False
        self.close_after_reply = False
        self.ready = True
        self.server_errors = []

    def script(self, method, path, status, body, headers=None):
        self.scripted.setdefault((method, path), []).append((status, headers or {}, body))

    def add_batch(self, count, state="done"):
        batch_id = uuid.uuid4().hex
        records = [result_of({"id": str(i), "shell": f"echo {i}"}) for i in range(count)]
        self.batches[batch_id] = {"records": records, "state": state, "submitted": count}
        return batch_id

    def paths(self, method=None):
        return [r.path for r in self.seen if method is None or r.method == method]


class Request:
    def __init__(self, method, path, headers, client_address):
        self.method = method
        self.path = path
        self.headers = headers
        self.client_address = client_address


def result_of(job):
    """The fake's result record for a job that ran."""
    stdout = job.get("shell") or " ".join(job.get("cmd", []))
    return {"id": job.get("id"), "status": "ok", "exit_code": 0, "stdout": stdout + "\n",
            "stderr": ""}


def invalid_job_of(job):
    """The invalid_job record of a job the fake refuses, or None."""
    memory_mb = job.get("limits", {}).get("memory_mb", 1)
    if isinstance(memory_mb, int) and memory_mb > 0:
        return None
    return {"id": job.get("id"), "status": "invalid_job", "line": 1,
            "error": "limits.memory_mb: must be a positive integer"}


def ndjson(record):
    return (json.dumps(record) + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def app(self):
        return self.server.app

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        request = Request(self.command, self.path, self.headers, self.client_address)
        with self.app.lock:
            self.app.seen.append(request)
        if self.unauthorized(url.path) or self.answer_scripted(url.path):
            return
        self.route(url.path, urllib.parse.parse_qs(url.query))
        if self.app.close_after_reply:
            self.app.close_after_reply = False
            self.close_connection = True

    do_POST = do_DELETE = do_PUT = do_GET

    # -- replies --

    def reply(self, status, body=None, headers=None):
        data = body if isinstance(body, bytes) else b""
        if isinstance(body, str):
            data = body.encode()
        elif body is not None and not isinstance(body, bytes):
            data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, field=None):
        self.reply(status, {"error": message, "field": field})

    def unauthorized(self, path):
        wanted = f"Bearer {self.app.token}"
        if self.app.token is None or path == "/healthz" or self.headers["Authorization"] == wanted:
            return False
        self.read_body()
        self.error(401, "missing or bad token")
        return True

    def answer_scripted(self, path):
        with self.app.lock:
            replies = self.app.scripted.get((self.command, path))
            scripted = replies.pop(0) if replies else None
        if scripted is None:
            return False
        self.read_body()
        status, headers, body = scripted
        self.reply(status, body, headers)
        return True

    # -- request bodies --

    def read_chunks(self):
        """The request body's pieces: its chunks when chunked, else the whole body."""
        if self.headers["Transfer-Encoding"] != "chunked":
            yield self.rfile.read(int(self.headers["Content-Length"] or 0))
            return
        while size := int(self.rfile.readline().split(b";")[0], 16):
            yield self.rfile.read(size)
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):   # trailers
            pass

    def read_body(self):
        return b"".join(self.read_chunks())

    def read_lines(self):
        """The body's lines (without their newline) as they arrive."""
        pending = b""
        for chunk in self.read_chunks():
            *lines, pending = (pending + chunk).split(b"\n")
            yield from lines
        if pending:
            yield pending

    # -- routes --

    def route(self, path, query):
        parts = path.strip("/").split("/")
        if path == "/v1/run" and self.command == "POST":
            return self.run_job()
        if path == "/v1/batches" and self.command == "POST":
            return self.submit_batch()
        if parts[:2] == ["v1", "batches"] and len(parts) in (3, 4):
            return self.batch_route(parts[2], parts[3:], query)
        if parts[:2] == ["v1", "sessions"]:
            return self.session_route(parts[2:])
        if path == "/healthz":
            return self.reply(200, {"status": "ok"})
        if path == "/readyz":
            return self.reply(200 if self.app.ready else 503, {"ready": self.app.ready})
        if path == "/metrics":
            return self.reply(200, "brood_jobs_total 3\n", {"Content-Type": "text/plain"})
        self.error(404, f"no route {self.command} {path}")

    def run_job(self):
        job = json.loads(self.read_body())
        if job.get("barrier"):
            self.app.run_barrier.wait()
        invalid = invalid_job_of(job)
        if invalid is not None:
            return self.reply(400, invalid)
        self.reply(200, result_of(job))

    def submit_batch(self):
        if self.app.reject_batches_early:
            self.close_connection = True
            return self.reply(401, {"error": "missing or bad token", "field": None},
                              {"Connection": "close"})
        self.app.batch_lines = []
        for index, line in enumerate(self.read_lines()):
            self.app.batch_lines.append(line)
            if self.app.on_batch_line:
                self.app.on_batch_line(index, line)
        records = [result_of(json.loads(line)) for line in self.app.batch_lines]
        batch_id = uuid.uuid4().hex
        self.app.batches[batch_id] = {"records": records, "state": "done",
                                      "submitted": len(records)}
        self.reply(201, {"id": batch_id})

    def batch_route(self, batch_id, rest, query):
        batch = self.app.batches.get(batch_id)
        if batch is None:
            return self.error(404, f"no batch {batch_id}")
        if rest == ["results"] and self.command == "GET":
            return self.results(batch, int(query.get("after", ["0"])[0]))
        if rest or self.command not in ("GET", "DELETE"):
            return self.error(405, "method not allowed")
        if self.command == "DELETE" and query.get("forget") == ["1"]:
            del self.app.batches[batch_id]
            return self.reply(204)
        if self.command == "DELETE" and batch["state"] == "running":
            batch["state"] = "cancelled"
        self.reply(200, status_of(batch_id, batch))

    def session_route(self, rest):
        """The fake's sessions: create, list, get, delete, exec (echoes its command), files."""
        body = self.read_body()
        self.app.bodies.append(body)
        if not rest:
            if self.command == "GET":
                return self.reply(200, {"sessions": [session_of(i, s)
                                                     for i, s in self.app.sessions.items()]})
            session_id = "s-" + uuid.uuid4().hex
            self.app.sessions[session_id] = {"request": json.loads(body), "files": {}, "execs": []}
            return self.reply(201, session_of(session_id, self.app.sessions[session_id]))
        session = self.app.sessions.get(rest[0])
        if session is None:
            return self.error(404, f"no such session: {rest[0]}", "id")
        if len(rest) == 1 and self.command == "DELETE":
            del self.app.sessions[rest[0]]
            return self.reply(204)
        if len(rest) == 1:
            return self.reply(200, session_of(rest[0], session))
        if rest[1] == "exec":
            request = json.loads(body)
            session["execs"].append(request)
            record = result_of(request)
            record["id"] = str(len(session["execs"]))
            return self.reply(200, record)
        path = urllib.parse.unquote("/".join(rest[2:]))
        if self.command == "PUT":
            session["files"][path] = body
            return self.reply(204)
        if path not in session["files"]:
            return self.error(404, f"no such file: {path}", "path")
        self.reply(200, session["files"][path], {"Content-Type": "application/octet-stream"})

    def results(self, batch, after):
        """Answers a results request as the next plan says:
        ("all",): every record from after=, then the end of the stream;
        ("cut", n): n records and half the next line in whole chunks, then closes;
        ("cut_in_chunk", n): n records, then closes in the middle of the next chunk;
        ("close_delimited", n): no length, no chunks: n records, half the next line, closes;
        ("error", status, headers): an error answer;
        ("drop",): closes without answering."""
        self.app.results_after.append(after)
        plan = self.app.results_plans.pop(0) if self.app.results_plans else self.app.results_default
        records = [ndjson(r) for r in batch["records"][after:]]
        if plan[0] == "error":
            return self.reply(plan[1], {"error": "not now", "field": None}, plan[2])
        self.close_connection = plan[0] != "all"
        if plan[0] == "drop":
            return
        if plan[0] == "close_delimited":
            return self.send_close_delimited(records[:plan[1]], records[plan[1]])
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.send_chunked(records, plan)

    def send_chunked(self, records, plan):
        if plan[0] == "all":
            for record in records:
                self.write_chunk(record)
            return self.wfile.write(b"0\r\n\r\n")
        for record in records[:plan[1]]:
            self.write_chunk(record)
        torn = records[plan[1]]
        if plan[0] == "cut":
            self.write_chunk(torn[:len(torn) // 2])
        else:   # cut_in_chunk: the header announces the whole line, half of it comes
            self.wfile.write(b"%x\r\n" % len(torn) + torn[:len(torn) // 2])

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def send_close_delimited(self, records, torn):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"".join(records) + torn[:len(torn) // 2])


def session_of(session_id, session):
    return {"id": session_id, "state": "running", "ended_reason": None,
            "execs": len(session["execs"]), "request": session["request"],
            "usage": {"memory_bytes": 4096, "peak_memory_bytes": 8192, "cpu_ms": 1.5, "pids": 1,
                      "disk_bytes": sum(len(b) for b in session["files"].values())}}


def status_of(batch_id, batch):
    counts = {}
    for record in batch["records"]:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return {"id": batch_id, "state": batch["state"], "jobs_submitted": batch["submitted"],
            "jobs_done": len(batch["records"]), "counts": counts}


class QuietServer:
    """Handler threads are daemons; their errors are kept, not printed. The listen backlog
    takes the 32 connections of ConcurrencyTest at once (socketserver's default is 5)."""
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        self.app.server_errors.append(sys.exc_info()[1])


class TCPServer(QuietServer, http.server.ThreadingHTTPServer):
    pass


class UnixServer(QuietServer, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    pass


class ServerTestCase(unittest.TestCase):
    """Starts a fake server (self.app) on 127.0.0.1, port 0, and a client (self.client)."""

    token = None

    def setUp(self):
        self.app = FakeBrood(token=self.token)
        self.server = self.start_server(TCPServer, ("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = self.make_client()
        self.sleeps = []
        patcher = mock.patch.object(brood_client, "_sleep", self.sleeps.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def start_server(self, server_class, address):
        server = server_class(address, Handler)
        server.app = self.app
        # poll_interval: how long shutdown() may take to be noticed.
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server

    def make_client(self, url=None, **options):
        client = Client(url or self.url, timeout=WAIT, **options)
        self.addCleanup(client.close)
        return client


# ---------------------------------------------------------------------------------------------
# run()


class RunTest(ServerTestCase):

    def test_run_returns_the_result_record(self):
        result = self.client.run({"id": "a", "shell": "echo hi", "limits": {"wall_ms": 1000}})
        self.assertEqual(result, {"id": "a", "status": "ok", "exit_code": 0,
                                  "stdout": "echo hi\n", "stderr": ""})
        request = self.app.seen[-1]
        self.assertEqual((request.method, request.path), ("POST", "/v1/run"))
        self.assertEqual(request.headers["Content-Type"], "application/json")
        self.assertEqual(request.headers["Host"], self.url.removeprefix("http://"))

    def test_invalid_job_carries_the_record(self):
        with self.assertRaises(InvalidJob) as caught:
            self.client.run({"id": "b", "cmd": ["/bin/true"], "limits": {"memory_mb": 0}})
        error = caught.exception
        self.assertIsInstance(error, BadRequest)
        self.assertEqual(error.status, 400)
        self.assertEqual(error.error, "limits.memory_mb: must be a positive integer")
        self.assertEqual(error.record, {"id": "b", "status": "invalid_job", "line": 1,
                                        "error": "limits.memory_mb: must be a positive integer"})

    def test_sequential_calls_share_one_connection(self):
        for i in range(5):
            self.assertEqual(self.client.run({"id": str(i), "cmd": ["/bin/true"]})["id"], str(i))
        self.assertEqual(len({r.client_address for r in self.app.seen}), 1)

    def test_a_get_survives_a_keep_alive_connection_the_server_closed(self):
        self.app.close_after_reply = True
        self.assertTrue(self.client.healthy())
        self.assertTrue(self.client.healthy())
        self.assertEqual(self.app.paths(), ["/healthz", "/healthz"])
        self.assertEqual(len({r.client_address for r in self.app.seen}), 2)

    def test_url_prefix_is_kept(self):
        client = self.make_client(self.url + "/api/")
        with self.assertRaises(NotFound):
            client.run({"cmd": ["/bin/true"]})
        self.assertEqual(self.app.paths(), ["/api/v1/run"])

    def test_bad_urls_are_refused(self):
        for url in ("ftp://host/", "127.0.0.1:8080", "unix://"):
            with self.subTest(url=url), self.assertRaises(ValueError):
                Client(url)


class ErrorTest(ServerTestCase):

    CLASSES = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
               405: BroodError, 408: BroodError, 409: Conflict, 410: Gone,
               413: PayloadTooLarge, 415: BroodError, 418: BroodError, 429: QueueFull,
               431: BroodError, 500: ServerError, 502: ServerError, 503: ServerError}

    def test_each_status_raises_its_class_with_message_and_field(self):
        for status, cls in self.CLASSES.items():
            self.app.script("POST", "/v1/run", status,
                            {"error": f"message {status}", "field": "limits.wall_ms"})
            with self.subTest(status=status), self.assertRaises(BroodError) as caught:
                self.client.run({"cmd": ["/bin/true"]})
            error = caught.exception
            self.assertIs(type(error), cls)
            self.assertEqual((error.status, error.error, error.field),
                             (status, f"message {status}", "limits.wall_ms"))

    def test_field_null_is_none(self):
        self.app.script("POST", "/v1/run", 400, {"error": "bad JSON at 1:3", "field": None})
        with self.assertRaises(BadRequest) as caught:
            self.client.run({"cmd": ["/bin/true"]})
        error = caught.exception
        self.assertNotIsInstance(error, InvalidJob)
        self.assertEqual((error.error, error.field), ("bad JSON at 1:3", None))

    def test_bodies_that_are_not_json_keep_their_class(self):
        cases = [(502, "<html>bad gateway</html>", ServerError, "<html>bad gateway</html>"),
                 (403, "forbidden host\n", Forbidden, "forbidden host"),
                 (404, "", NotFound, "Not Found"),
                 (400, '["not", "an object"]', BadRequest, '["not", "an object"]')]
        for status, body, cls, message in cases:
            self.app.script("GET", "/metrics", status, body)
            with self.subTest(status=status), self.assertRaises(cls) as caught:
                self.client.metrics()
            self.assertEqual((caught.exception.status, caught.exception.error), (status, message))
            self.assertIsNone(caught.exception.field)

    def test_queue_full_has_retry_after(self):
        for header, expected in (({"Retry-After": "2.5"}, 2.5), ({"Retry-After": "3"}, 3.0),
                                 ({}, None), ({"Retry-After": "soon"}, None)):
            self.app.script("POST", "/v1/run", 429, {"error": "queue full", "field": None}, header)
            with self.subTest(header=header), self.assertRaises(QueueFull) as caught:
                self.client.run({"cmd": ["/bin/true"]})
            self.assertEqual(caught.exception.retry_after, expected)
        self.assertEqual(self.sleeps, [])

    def test_run_retries_queue_full_when_asked(self):
        client = self.make_client(retry_queue_full=True)
        for header in ({"Retry-After": "0.5"}, {"Retry-After": "100"}, {}):
            self.app.script("POST", "/v1/run", 429, {"error": "queue full", "field": None}, header)
        self.assertEqual(client.run({"id": "q", "cmd": ["/bin/true"]})["status"], "ok")
        self.assertEqual(self.sleeps, [0.5, brood_client.MAX_QUEUE_FULL_DELAY, 1.0])
        self.assertEqual(self.app.paths("POST"), ["/v1/run"] * 4)

    def test_queue_full_retries_are_bounded(self):
        client = self.make_client(retry_queue_full=True, queue_full_retries=2)
        for _ in range(3):
            self.app.script("POST", "/v1/run", 429, {"error": "queue full", "field": None},
                            {"Retry-After": "0"})
        with self.assertRaises(QueueFull):
            client.run({"cmd": ["/bin/true"]})
        self.assertEqual(self.sleeps, [0.0, 0.0])
        self.assertEqual(self.app.paths("POST"), ["/v1/run"] * 3)

    def test_probes_and_metrics(self):
        self.assertTrue(self.client.healthy())
        self.assertTrue(self.client.ready())
        self.app.ready = False
        self.assertFalse(self.client.ready())
        self.assertEqual(self.client.metrics(), "brood_jobs_total 3\n")
        self.assertFalse(Client("unix:///nonexistent-brood-dir/brood.sock").healthy())


class AuthTest(ServerTestCase):
    token = "s3cret"

    def test_a_missing_token_is_unauthorized(self):
        with self.assertRaises(Unauthorized) as caught:
            self.client.run({"cmd": ["/bin/true"]})
        self.assertEqual((caught.exception.status, caught.exception.error),
                         (401, "missing or bad token"))
        self.assertTrue(self.client.healthy())         # /healthz needs no token
        with self.assertRaises(Unauthorized):
            self.client.ready()

    def test_a_wrong_token_is_unauthorized(self):
        with self.assertRaises(Unauthorized):
            self.make_client(token="guess").submit_batch([{"cmd": ["/bin/true"]}])

    def test_the_bearer_token_is_sent(self):
        client = Client(self.url, token="s3cret", timeout=WAIT)
        self.addCleanup(client.close)
        self.assertEqual(client.run({"id": "t", "cmd": ["/bin/true"]})["status"], "ok")
        batch = client.submit_batch([{"id": "u", "cmd": ["/bin/true"]}])
        self.assertEqual([r["id"] for r in batch.results()], ["u"])
        self.assertEqual(len(self.app.seen), 3)
        self.assertTrue(all(r.headers["Authorization"] == "Bearer s3cret" for r in self.app.seen))

    def test_an_answer_sent_before_the_body_was_read_is_seen(self):
        self.app.reject_batches_early = True
        client = self.make_client(token="s3cret")
        line = json.dumps({"cmd": ["/bin/true"], "env": {"PAD": "x" * 1000}})
        with self.assertRaises(Unauthorized):
            client.submit_batch(line for _ in range(16_000))      # 16 MB the server never reads
        self.assertEqual(self.app.paths(), ["/v1/batches"])


class ConcurrencyTest(ServerTestCase):

    def test_32_threads_run_at_once(self):
        threads_count, calls = 32, 20
        self.app.run_barrier = threading.Barrier(threads_count, timeout=WAIT)
        outcomes = {}

        def work(n):
            try:
                ids = [f"{n}/{i}" for i in range(calls)]
                # The first job of each thread waits in the server until all 32 are in flight.
                jobs = [{"id": ids[0], "cmd": ["/bin/true"], "barrier": True}]
                jobs += [{"id": i, "shell": f"echo {i}"} for i in ids[1:]]
                outcomes[n] = [self.client.run(job)["id"] for job in jobs] == ids
            except Exception as error:      # reported below
                outcomes[n] = error

        threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(outcomes, {n: True for n in range(threads_count)})
        self.assertEqual(len(self.app.paths("POST")), threads_count * calls)
        self.assertEqual(self.app.server_errors, [])


# ---------------------------------------------------------------------------------------------
# Batches


class SubmitTest(ServerTestCase):

    def test_job_lines_arrive_chunked_in_order(self):
        jobs = [{"id": "d", "shell": "echo é"}, '{"id": "s", "cmd": ["/bin/true"]}',
                '{"id": "n", "cmd": ["/bin/true"]}\n', b'{"id": "b", "cmd": ["/bin/true"]}']
        jobs += [{"id": str(i), "cmd": ["/bin/echo", str(i)]} for i in range(5000)]
        batch = self.client.submit_batch(iter(jobs))
        self.assertRegex(batch.id, r"^[0-9a-f]{32}$")
        request = self.app.seen[-1]
        self.assertEqual(request.headers["Transfer-Encoding"], "chunked")
        self.assertEqual(request.headers["Content-Type"], "application/x-ndjson")
        self.assertIsNone(request.headers["Content-Length"])
        received = [json.loads(line) for line in self.app.batch_lines]
        expected = [job if isinstance(job, dict) else json.loads(job) for job in jobs]
        self.assertEqual(received, expected)

    def test_the_body_is_streamed_as_jobs_are_yielded(self):
        count = 4
        arrived = [threading.Event() for _ in range(count)]
        self.app.on_batch_line = lambda index, line: arrived[index].set()
        padding = "x" * brood_client.BODY_CHUNK_BYTES       # one job fills a chunk

        def jobs():
            for i in range(count):
                if i > 0:   # the server must have job i-1 before job i is even made
                    self.assertTrue(arrived[i - 1].wait(WAIT), f"job {i - 1} not sent")
                yield {"id": str(i), "cmd": ["/bin/true"], "env": {"PAD": padding}}

        batch = self.client.submit_batch(jobs())
        self.assertEqual([r["id"] for r in batch.results()], ["0", "1", "2", "3"])

    def test_an_error_of_the_jobs_iterable_propagates(self):
        def jobs():
            yield {"id": "1", "cmd": ["/bin/true"]}
            raise RuntimeError("no more jobs")

        with self.assertRaisesRegex(RuntimeError, "no more jobs"):
            self.client.submit_batch(jobs())
        self.assertEqual(self.client.run({"id": "after", "cmd": ["/bin/true"]})["id"], "after")


class BatchTest(ServerTestCase):

    def test_status_cancel_and_forget(self):
        batch = self.client.batch(self.app.add_batch(3, state="running"))
        self.assertEqual(batch.status(), {"id": batch.id, "state": "running", "jobs_submitted": 3,
                                          "jobs_done": 3, "counts": {"ok": 3}})
        self.assertEqual(batch.cancel()["state"], "cancelled")
        self.assertIsNone(batch.forget())
        self.assertEqual(self.app.seen[-1].method, "DELETE")
        self.assertEqual(self.app.seen[-1].path, f"/v1/batches/{batch.id}?forget=1")
        with self.assertRaises(NotFound):
            batch.status()

    def test_cancelling_a_done_batch_keeps_it_done(self):
        batch = self.client.batch(self.app.add_batch(2))
        self.assertEqual(batch.cancel()["state"], "done")

    def test_wait_returns_the_final_status(self):
        batch = self.client.batch(self.app.add_batch(5))
        self.app.results_plans = [("cut", 2)]
        self.assertEqual(batch.wait()["state"], "done")
        self.assertEqual(self.app.results_after, [0, 2])

    def test_results_after(self):
        batch = self.client.batch(self.app.add_batch(10))
        self.assertEqual([r["id"] for r in batch.results(after=4)], [str(i) for i in range(4, 10)])
        self.assertEqual(self.app.results_after, [4])

    def test_results_of_an_unknown_batch(self):
        with self.assertRaises(NotFound):
            list(self.client.batch("0" * 32).results())
        self.assertEqual(len(self.app.seen), 1)

    def test_other_requests_while_iterating_results(self):
        batch = self.client.batch(self.app.add_batch(3))
        for record in batch.results():
            self.assertEqual(batch.status()["state"], "done")
            self.assertEqual(self.client.run({"id": record["id"], "cmd": []})["id"], record["id"])


class ResumeTest(ServerTestCase):

    def records(self, batch):
        return [r["id"] for r in batch.results()]

    def test_results_resume_after_torn_lines(self):
        batch = self.client.batch(self.app.add_batch(10))
        self.app.results_plans = [("cut", 3), ("cut_in_chunk", 2), ("close_delimited", 2)]
        self.assertEqual(self.records(batch), [str(i) for i in range(10)])
        self.assertEqual(self.app.results_after, [0, 3, 5, 7])

    def test_results_resume_through_server_errors(self):
        batch = self.client.batch(self.app.add_batch(6))
        self.app.results_plans = [("cut", 4), ("error", 503, {"Retry-After": "0.5"}),
                                  ("error", 500, {}), ("drop",)]
        self.assertEqual(self.records(batch), [str(i) for i in range(6)])
        self.assertEqual(self.app.results_after, [0, 4, 4, 4, 4])
        self.assertEqual(self.sleeps, [0.1, 0.5, 0.4, 0.8])

    def test_results_give_up_after_consecutive_failures(self):
        client = self.make_client(max_reconnects=3)
        batch = client.batch(self.app.add_batch(4))
        self.app.results_plans = [("cut", 2)]
        self.app.results_default = ("drop",)
        received = []
        with self.assertRaises(http.client.RemoteDisconnected):
            for record in batch.results():
                received.append(record["id"])
        self.assertEqual(received, ["0", "1"])
        self.assertEqual(self.app.results_after, [0, 2, 2, 2])
        self.assertEqual(self.sleeps, [0.1, 0.2, 0.4])

    def test_results_give_up_on_a_server_that_stays_unavailable(self):
        client = self.make_client(max_reconnects=2, reconnect_backoff=0.5)
        batch = client.batch(self.app.add_batch(4))
        self.app.results_default = ("error", 503, {})
        with self.assertRaises(ServerError) as caught:
            list(batch.results())
        self.assertEqual(caught.exception.status, 503)
        self.assertEqual(self.app.results_after, [0, 0, 0])
        self.assertEqual(self.sleeps, [0.5, 1.0])

    def test_failures_count_only_when_consecutive(self):
        client = self.make_client(max_reconnects=1)
        batch = client.batch(self.app.add_batch(6))
        self.app.results_plans = [("cut", 1)] * 5
        self.assertEqual([r["id"] for r in batch.results()], [str(i) for i in range(6)])
        self.assertEqual(self.app.results_after, [0, 1, 2, 3, 4, 5])


# ---------------------------------------------------------------------------------------------
# Sessions


class SessionTest(ServerTestCase):

    def test_a_session_round_trip(self):
        with self.client.session(limits={"memory_mb": 256}, env={"A": "1"},
                                 files={"a.txt": "a"}, idle_timeout_s=5) as s:
            self.assertRegex(s.id, r"^s-[0-9a-f]{32}$")
            self.assertEqual(json.loads(self.app.bodies[-1]),
                             {"limits": {"memory_mb": 256}, "env": {"A": "1"},
                              "files": {"a.txt": "a"}, "idle_timeout_s": 5})
            self.assertEqual(s.created["state"], "running")
            s.put_file("dir x/é.txt", "héllo")
            request = self.app.seen[-1]
            self.assertEqual((request.method, request.path),
                             ("PUT", f"/v1/sessions/{s.id}/files/dir%20x/%C3%A9.txt"))
            self.assertEqual(request.headers["Content-Type"], "application/octet-stream")
            self.assertEqual(self.app.bodies[-1], "héllo".encode())
            s.put_file("bin", b"\x00\xff")
            self.assertEqual(s.get_file("bin"), b"\x00\xff")
            self.assertEqual(s.get_file("dir x/é.txt"), "héllo".encode())
            with self.assertRaises(NotFound) as caught:
                s.get_file("missing")
            self.assertEqual(caught.exception.field, "path")
            record = s.exec(shell="echo hi", env={"B": "2"}, limits={"wall_ms": 100})
            self.assertEqual((record["id"], record["stdout"]), ("1", "echo hi\n"))
            self.assertEqual(json.loads(self.app.bodies[-1]),
                             {"shell": "echo hi", "env": {"B": "2"}, "limits": {"wall_ms": 100}})
            s.exec(cmd=["cat"], stdin=b"\x00", cwd="/tmp")
            self.assertEqual(json.loads(self.app.bodies[-1]),
                             {"cmd": ["cat"], "stdin": {"base64": "AA=="}, "cwd": "/tmp"})
            self.assertEqual(s.usage()["disk_bytes"], 8)
            self.assertEqual(s.info()["execs"], 2)
            self.assertEqual([i["id"] for i in self.client.sessions()], [s.id])
        self.assertEqual(self.app.seen[-1].method, "DELETE")
        self.assertEqual(self.app.seen[-1].path, f"/v1/sessions/{s.id}")
        self.assertEqual(self.app.sessions, {})
        s.close()      # gone already: fine

    def test_exec_takes_exactly_one_of_cmd_and_shell(self):
        s = self.client.session()
        for kwargs in ({}, {"cmd": ["true"], "shell": "true"}):
            with self.subTest(kwargs=kwargs), self.assertRaises(ValueError):
                s.exec(**kwargs)
        self.assertEqual(self.app.paths(), ["/v1/sessions"])

    def test_an_ended_session_raises_session_ended(self):
        s = self.client.session()
        gone = {"error": "session ended: idle", "field": None, "ended_reason": "idle"}
        for method, tail, call in (("POST", "/exec", lambda: s.exec(cmd=["true"])),
                                   ("PUT", "/files/a", lambda: s.put_file("a", "x")),
                                   ("GET", "/files/a", lambda: s.get_file("a"))):
            self.app.script(method, f"/v1/sessions/{s.id}{tail}", 410, gone)
            with self.subTest(method=method), self.assertRaises(SessionEnded) as caught:
                call()
            self.assertIsInstance(caught.exception, Gone)
            self.assertEqual((caught.exception.ended_reason, caught.exception.error),
                             ("idle", "session ended: idle"))
        self.app.script("DELETE", f"/v1/sessions/{s.id}", 410, gone)
        s.close()

    def test_busy_and_full(self):
        s = self.client.session()
        self.app.script("POST", f"/v1/sessions/{s.id}/exec", 409,
                        {"error": "a command is running", "field": None})
        with self.assertRaises(Conflict):
            s.exec(cmd=["true"])
        self.app.script("POST", "/v1/sessions", 429, {"error": "full", "field": None},
                        {"Retry-After": "1"})
        with self.assertRaises(QueueFull) as caught:
            self.client.session()
        self.assertEqual(caught.exception.retry_after, 1.0)


# ---------------------------------------------------------------------------------------------
# Unix socket


class UnixSocketTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        directory = tempfile.mkdtemp(prefix="brood-client-test-")
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "brood.sock")
        self.start_server(UnixServer, path)
        self.unix_client = self.make_client("unix://" + path)

    def test_run_and_batch_over_a_unix_socket(self):
        client = self.unix_client
        self.assertTrue(client.healthy())
        self.assertEqual(client.run({"id": "u", "cmd": ["/bin/true"]})["id"], "u")
        batch = client.submit_batch({"id": str(i), "cmd": ["/bin/true"]} for i in range(3))
        self.app.results_plans = [("cut", 1)]
        self.assertEqual([r["id"] for r in batch.results()], ["0", "1", "2"])
        self.assertEqual(self.app.results_after, [0, 1])
        self.assertEqual({r.headers["Host"] for r in self.app.seen}, {"localhost"})


if __name__ == "__main__":
    unittest.main()
