"""A client for `brood serve`, the HTTP API of brood (Python 3.11, standard library only).

    from brood_client import Client, InvalidJob, QueueFull

    client = Client("http://127.0.0.1:8080", token="s3cret")   # or "unix:///run/brood.sock"

    result = client.run({"id": "hi", "cmd": ["python3", "-c", "print(6*7)"]})
    print(result["status"], result["stdout"])                    # ok 42

    try:
        client.run({"cmd": ["/bin/true"], "limits": {"memory_mb": -1}})
    except InvalidJob as error:
        print(error.error, error.record)

    batch = client.submit_batch({"id": str(i), "shell": f"echo {i}"} for i in range(1000))
    for record in batch.results():        # streamed as jobs finish; resumes by itself
        print(record["id"], record["status"])
    print(batch.status()["counts"])
    batch.forget()

    with client.session(limits={"memory_mb": 1024}, idle_timeout_s=300) as s:   # DELETE at the end
        s.put_file("main.py", "print(6*7)\n")
        print(s.exec(cmd=["python3", "main.py"])["stdout"])      # 42; files stay between execs
        print(s.exec(shell="ls")["stdout"], s.usage()["memory_bytes"])

Every error the server answers with is a `BroodError` subclass carrying the HTTP `.status`, the
server's `.error` message and the job `.field` it names (or None). Failures of the connection
itself are the standard library's (`ConnectionError`, `TimeoutError`, `http.client.HTTPException`),
except inside `Batch.results()`, which reconnects and resumes where it stopped.

A `Client` may be shared by threads: each thread keeps its own keep-alive connection.
"""

import base64
import http.client
import json
import math
import select
import socket
import threading
import time
import urllib.parse

__all__ = [
    "DEFAULT_URL", "Client", "Batch", "UnixHTTPConnection",
    "Session", "BroodError", "BadRequest", "InvalidJob", "Unauthorized", "Forbidden", "NotFound",
    "Conflict", "Gone", "SessionEnded", "PayloadTooLarge", "QueueFull", "ServerError",
]

DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = "brood-client-python/1"
JSON = "application/json"
NDJSON = "application/x-ndjson"
OCTETS = "application/octet-stream"

BODY_CHUNK_BYTES = 64 * 1024      # job lines are sent in chunks of about this size
READ_CHUNK_BYTES = 64 * 1024
MAX_RECONNECT_DELAY = 2.0         # seconds: cap of the results stream's backoff (and Retry-After)
MAX_QUEUE_FULL_DELAY = 5.0        # seconds: cap of a Retry-After that run() sleeps

_sleep = time.sleep               # the tests replace it to see the delays without waiting


# ---------------------------------------------------------------------------------------------
# Errors


class BroodError(Exception):
    """An error answer of the server: `.status` (HTTP code), `.error` (message), `.field` (the
    job field it is about, or None) and `.retry_after` (seconds from a Retry-After header, or
    None)."""

    def __init__(self, status, error, field=None, retry_after=None):
        self.status = status
        self.error = error
        self.field = field
        self.retry_after = retry_after
        super().__init__(status, error, field)

    def __str__(self):
        text = f"{self.status}: {self.error}"
        return f"{text} (field {self.field})" if self.field else text


class BadRequest(BroodError):
    """400: bad JSON, an unknown field, a bad parameter..."""


class InvalidJob(BadRequest):
    """400 from `run()`: the job is invalid. `.record` is the server's invalid_job result record
    ({"id", "status": "invalid_job", "error", "line"}); `.error` its message."""

    def __init__(self, record):
        self.record = record
        super().__init__(400, record.get("error") or "invalid job")


class Unauthorized(BroodError):
    """401: the token is missing or wrong."""


class Forbidden(BroodError):
    """403: a foreign Host header, or something the server does not allow (network host...)."""


class NotFound(BroodError):
    """404: unknown route or batch id."""


class Conflict(BroodError):
    """409: a session runs a command already (one at a time)."""


class Gone(BroodError):
    """410: what the request is about has ended."""


class SessionEnded(Gone):
    """410 from a session: it ended; `.ended_reason` says why ("idle", "ttl", "memory", "pids",
    "sandbox_error", "shutdown", ...)."""

    def __init__(self, status, error, field=None, retry_after=None, ended_reason=None):
        super().__init__(status, error, field, retry_after)
        self.ended_reason = ended_reason


class PayloadTooLarge(BroodError):
    """413: the request body is too large."""


class QueueFull(BroodError):
    """429: the server's queue is full; `.retry_after` is how long it asks to wait (or None)."""


class ServerError(BroodError):
    """5xx: an internal error (500), or the server is shutting down or not ready (503)."""


_ERROR_CLASSES = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    410: Gone, 413: PayloadTooLarge, 429: QueueFull,
}


def _error_class(status):
    if 500 <= status <= 599:
        return ServerError
    return _ERROR_CLASSES.get(status, BroodError)


def _retry_after(value):
    """The seconds of a Retry-After header (None when absent or not a number of seconds)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _error_from(reply):
    """The BroodError an error reply stands for, whatever its body."""
    text = reply.body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if reply.status == 400 and isinstance(payload, dict) and payload.get("status") == "invalid_job":
        return InvalidJob(payload)
    message = text.strip() or reply.reason or f"HTTP {reply.status}"
    field = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        message, field = payload["error"], payload.get("field")
    retry_after = _retry_after(reply.headers.get("Retry-After"))
    if reply.status == 410 and isinstance(payload, dict) and "ended_reason" in payload:
        return SessionEnded(reply.status, message, field, retry_after, payload["ended_reason"])
    return _error_class(reply.status)(reply.status, message, field, retry_after)


def _decode_json(data, status):
    try:
        return json.loads(data)
    except ValueError:
        preview = data[:200].decode("utf-8", "replace")
        raise BroodError(status, f"the server's answer is not JSON: {preview!r}") from None


# ---------------------------------------------------------------------------------------------
# Transport


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket; the Host header says "localhost"."""

    def __init__(self, socket_path, timeout=None):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _Reply:
    """A whole response: status, reason, headers and body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


def _parse_url(url):
    """(connection factory taking a timeout, path prefix) for a client URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix":
        path = urllib.parse.unquote(parts.netloc + parts.path)
        if not path:
            raise ValueError(f"no socket path in {url!r}")
        return (lambda timeout: UnixHTTPConnection(path, timeout=timeout)), ""
    classes = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}
    if parts.scheme not in classes or not parts.hostname:
        raise ValueError(f"not an http://, https:// or unix:// URL: {url!r}")
    cls, host, port = classes[parts.scheme], parts.hostname, parts.port
    return (lambda timeout: cls(host, port, timeout=timeout)), parts.path.rstrip("/")


def _is_stale(conn):
    """True when an idle keep-alive connection was closed by the server (or has stray data)."""
    if conn.sock is None:
        return False
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _early_response(conn, send_error):
    """The server may answer before it read the whole body (401, 413...) and close: that
    answer says more than the broken pipe, when it came."""
    try:
        return conn.getresponse()
    except (OSError, http.client.HTTPException):
        raise send_error from None


def _job_lines(jobs):
    """The NDJSON body of a batch, in chunks of about BODY_CHUNK_BYTES: jobs are dicts, or
    lines already encoded (str or bytes, with or without their newline)."""
    pending = bytearray()
    for job in jobs:
        if isinstance(job, str):
            job = job.encode("utf-8")
        if isinstance(job, (bytes, bytearray)):
            pending += job if job.endswith(b"\n") else job + b"\n"
        else:
            pending += json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            pending += b"\n"
        if len(pending) >= BODY_CHUNK_BYTES:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def _read_records(response):
    """The result records of an NDJSON response, one per complete line. Raises
    http.client.IncompleteRead when the stream was cut, a torn last line included."""
    pending = bytearray()
    while data := response.read1(READ_CHUNK_BYTES):
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            pending += data[start:end]
            start = end + 1
            if pending.strip():
                yield _decode_json(pending, response.status)
            pending.clear()
        pending += data[start:]
    if response.length:                       # a Content-Length the body fell short of
        raise http.client.IncompleteRead(bytes(pending), response.length)
    if pending:
        raise http.client.IncompleteRead(bytes(pending))


# Failures after which Batch.results() reconnects.
_STREAM_ERRORS = (OSError, http.client.HTTPException, ServerError)
# Failures of a keep-alive connection the server closed while it was idle.
_STALE_ERRORS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


# ---------------------------------------------------------------------------------------------
# Client


class Client:
    """A client of `brood serve`.

    url: "http://HOST:PORT[/PREFIX]", "https://..." or "unix:///path/to/socket".
    token: sent as "Authorization: Bearer TOKEN" when not None.
    timeout: socket timeout in seconds for connects and reads; None waits for ever (a job may
        run long).
    retry_queue_full: run() sleeps Retry-After (at most MAX_QUEUE_FULL_DELAY, 1 s when absent)
        and tries again when the queue is full, queue_full_retries times at most.
    max_reconnects, reconnect_backoff: Batch.results() reconnects at most max_reconnects times
        in a row without receiving a record, waiting reconnect_backoff seconds, doubled each
        time (at most MAX_RECONNECT_DELAY), or the server's Retry-After.
    """

    def __init__(self, url=DEFAULT_URL, token=None, timeout=None, *, retry_queue_full=False,
                 queue_full_retries=5, max_reconnects=10, reconnect_backoff=0.1):
        self.url = url
        self.token = token
        self.timeout = timeout
        self.retry_queue_full = retry_queue_full
        self.queue_full_retries = queue_full_retries
        self.max_reconnects = max_reconnects
        self.reconnect_backoff = reconnect_backoff
        self._connect, self._prefix = _parse_url(url)
        self._local = threading.local()
        self._connections = {}            # thread -> its keep-alive connection
        self._lock = threading.Lock()

    def __repr__(self):
        return f"Client({self.url!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Closes the keep-alive connections of every thread (they reopen when used again)."""
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            conn.close()

    # -- the API ------------------------------------------------------------------------------

    def run(self, job):
        """Runs one job (a dict) and returns its result record. Raises InvalidJob when the server
        refuses the job, QueueFull when its queue is full (unless retry_queue_full)."""
        body = json.dumps(job, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        for attempt in range(self.queue_full_retries + 1):
            try:
                return self._call("POST", "/v1/run", body, JSON)
            except QueueFull as error:
                if not self.retry_queue_full or attempt == self.queue_full_retries:
                    raise
                delay = 1.0 if error.retry_after is None else error.retry_after
                _sleep(min(delay, MAX_QUEUE_FULL_DELAY))

    def submit_batch(self, jobs):
        """Submits a batch: `jobs` is an iterable of job dicts or of job lines (str or bytes). The
        body is streamed (chunked) as the iterable yields, never held whole. Returns a Batch."""
        reply = self._call("POST", "/v1/batches", _job_lines(jobs), NDJSON)
        return Batch(self, reply["id"])

    def batch(self, batch_id):
        """The Batch of an existing id (nothing is asked of the server)."""
        return Batch(self, batch_id)

    def session(self, limits=None, network=None, env=None, files=None, idle_timeout_s=None,
                ttl_s=None, root=None):
        """Creates a session: one sandbox that lives between commands (docs/sessions.md), and
        returns its Session. Arguments left None take the server's defaults. Use it as a context
        manager to close it at the end. Raises QueueFull when the server holds --max-sessions."""
        request = {"limits": limits, "network": network, "root": root, "env": env,
                   "files": files, "idle_timeout_s": idle_timeout_s, "ttl_s": ttl_s}
        body = json.dumps({k: v for k, v in request.items() if v is not None},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        reply = self._call("POST", "/v1/sessions", body, JSON)
        return Session(self, reply["id"], reply)

    def sessions(self):
        """The server's sessions, live and recently ended: a list of session objects."""
        return self._call("GET", "/v1/sessions")["sessions"]

    def metrics(self):
        """The server's metrics, in Prometheus' text format."""
        reply = self._checked(self._request("GET", "/metrics", accept="text/plain"))
        return reply.body.decode("utf-8", "replace")

    def healthy(self):
        """True when /healthz answers 2xx; False on 5xx or when the server cannot be reached.
        Other answers (404: a wrong URL prefix...) raise their BroodError."""
        return self._probe("/healthz")

    def ready(self):
        """True when /readyz answers 2xx; False on 5xx (503: not ready) or when the server cannot
        be reached. Other answers (401: a missing token...) raise their BroodError."""
        return self._probe("/readyz")

    # -- requests -----------------------------------------------------------------------------

    def _probe(self, path):
        try:
            reply = self._request("GET", path)
        except (OSError, http.client.HTTPException):
            return False
        if 500 <= reply.status <= 599:
            return False
        self._checked(reply)
        return True

    def _call(self, method, path, body=None, content_type=None):
        """One request whose answer is JSON: the decoded answer (None when empty)."""
        reply = self._checked(self._request(method, path, body, content_type))
        return _decode_json(reply.body, reply.status) if reply.body else None

    @staticmethod
    def _checked(reply):
        if not 200 <= reply.status <= 299:
            raise _error_from(reply)
        return reply

    def _raw(self, method, path, body=None, content_type=None):
        """One request whose answer is bytes (a session's file): the body."""
        return self._checked(self._request(method, path, body, content_type, accept=OCTETS)).body

    def _request(self, method, path, body=None, content_type=None, accept=JSON):
        """Sends one request on this thread's keep-alive connection; returns the whole _Reply. A
        GET is sent again, once, when a reused connection turns out closed by the server."""
        may_retry = method == "GET"
        while True:
            conn, reused = self._thread_connection()
            try:
                response = self._send(conn, method, path, body, content_type, accept)
                data = response.read()
            except _STALE_ERRORS:
                conn.close()
                if reused and may_retry:
                    may_retry = False
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            return _Reply(response.status, response.reason, response.headers, data)

    def _send(self, conn, method, path, body, content_type, accept):
        """Sends a request on conn and returns its response (headers read, body not)."""
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type is not None:
            headers["Content-Type"] = content_type
        streamed = body is not None and not isinstance(body, (bytes, bytearray))
        if streamed:
            headers["Transfer-Encoding"] = "chunked"
        try:
            conn.request(method, self._prefix + path, body=body, headers=headers,
                         encode_chunked=streamed)
        except (BrokenPipeError, ConnectionResetError) as error:
            return _early_response(conn, error)
        return conn.getresponse()

    def _thread_connection(self):
        """(this thread's connection, whether it is an open one being reused)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(self.timeout)
            self._local.conn = conn
            self._adopt(conn)
        elif _is_stale(conn):
            conn.close()                  # http.client reopens it on the next request
        return conn, conn.sock is not None

    def _adopt(self, conn):
        """Registers this thread's new connection, closing those of threads that ended."""
        with self._lock:
            ended = [thread for thread in self._connections if not thread.is_alive()]
            orphans = [self._connections.pop(thread) for thread in ended]
            self._connections[threading.current_thread()] = conn
        for orphan in orphans:
            orphan.close()

    def _stream_records(self, path):
        """The records of an NDJSON GET, on a connection of their own (the caller may make other
        requests while it iterates)."""
        conn = self._connect(self.timeout)
        try:
            response = self._send(conn, "GET", path, None, None, NDJSON)
            if response.status != 200:
                raise _error_from(_Reply(response.status, response.reason, response.headers,
                                         response.read()))
            yield from _read_records(response)
        finally:
            conn.close()

    def _reconnect_delay(self, failures, error):
        """How long to wait before reconnect number `failures` after `error`."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is None:
            retry_after = self.reconnect_backoff * 2 ** (failures - 1)
        return min(retry_after, MAX_RECONNECT_DELAY)


# ---------------------------------------------------------------------------------------------
# Batch


class Batch:
    """A batch on the server: its `.id`, its status, its results."""

    def __init__(self, client, batch_id):
        self.client = client
        self.id = batch_id

    def __repr__(self):
        return f"Batch({self.id!r})"

    def _path(self, tail=""):
        return f"/v1/batches/{urllib.parse.quote(self.id, safe='')}{tail}"

    def status(self):
        """The batch's status: {"id", "state": "running"|"done"|"cancelled", "jobs_submitted",
        "jobs_done", "counts": {status: n}}."""
        return self.client._call("GET", self._path())

    def results(self, after=0):
        """Yields the batch's result records (dicts) as its jobs finish, skipping the first
        `after`; ends when the batch is done or cancelled and every record was yielded.

        When the stream breaks (a dropped or timed-out connection, a cut line, a 5xx answer), it
        reconnects asking for the records after those it yielded: none is lost or repeated, and
        a torn last line is never yielded. After client.max_reconnects failures in a row (with no
        record in between) it raises the last error."""
        received = after
        failures = 0
        while True:
            records = self.client._stream_records(self._path(f"/results?after={received}"))
            try:
                for record in records:
                    received += 1
                    failures = 0
                    yield record
                return
            except _STREAM_ERRORS as error:
                failures += 1
                if failures > self.client.max_reconnects:
                    raise
                _sleep(self.client._reconnect_delay(failures, error))
            finally:
                records.close()

    def wait(self):
        """Waits until the batch is done or cancelled and returns its final status. It reads
        (and drops) the results stream, which ends exactly then: no polling, and it rides out
        dropped connections like results(). To keep the records, iterate results() and then
        call status() instead."""
        for _ in self.results():
            pass
        return self.status()

    def cancel(self):
        """Cancels the batch's jobs not yet finished; returns its status (state "cancelled",
        or "done" when it had finished already)."""
        return self.client._call("DELETE", self._path())

    def forget(self):
        """Removes the batch and its results from the server; its id is unknown afterwards."""
        self.client._call("DELETE", self._path("?forget=1"))


# ---------------------------------------------------------------------------------------------
# Session


class Session:
    """A session on the server (docs/sessions.md): its `.id`; commands, files, usage. A context
    manager: `with client.session() as s:` closes it at the end (a session that ended already, or
    is gone, is fine). Calls on a session that ended raise SessionEnded (with `.ended_reason`);
    an exec while another runs raises Conflict."""

    def __init__(self, client, session_id, info=None):
        self.client = client
        self.id = session_id
        self.created = info        # the session object the server answered the create with

    def __repr__(self):
        return f"Session({self.id!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _path(self, tail=""):
        return f"/v1/sessions/{urllib.parse.quote(self.id, safe='')}{tail}"

    def _file_path(self, path):
        return self._path("/files/" + urllib.parse.quote(path, safe="/"))

    def exec(self, cmd=None, shell=None, stdin=None, env=None, cwd=None, limits=None):
        """Runs one command in the session (exactly one of `cmd`, a list, and `shell`, a script
        for /bin/sh -c) and returns its result record when it ended. `stdin`: str or bytes;
        `limits`: its own {"wall_ms", "cpu_ms", "output_bytes"} (default: the session's)."""
        if (cmd is None) == (shell is None):
            raise ValueError("give exactly one of cmd and shell")
        if isinstance(stdin, (bytes, bytearray)):
            stdin = {"base64": base64.b64encode(stdin).decode("ascii")}
        request = {"cmd": cmd, "shell": shell, "stdin": stdin, "env": env, "cwd": cwd,
                   "limits": limits}
        body = json.dumps({k: v for k, v in request.items() if v is not None},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.client._call("POST", self._path("/exec"), body, JSON)

    def put_file(self, path, data):
        """Writes a file below /workspace (`path` relative; missing directories are made);
        `data`: bytes, or str (written as UTF-8)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.client._raw("PUT", self._file_path(path), bytes(data), OCTETS)

    def get_file(self, path):
        """A file below /workspace, as bytes. NotFound when there is none."""
        return self.client._raw("GET", self._file_path(path))

    def info(self):
        """The session object: {"id", "state", "ended_reason", "created", "last_used",
        "idle_timeout_s", "ttl_s", "limits", "usage", ...}."""
        return self.client._call("GET", self._path())

    def usage(self):
        """Its processes' figures now: {"memory_bytes", "peak_memory_bytes", "cpu_ms", "pids",
        "disk_bytes"}."""
        return self.info()["usage"]

    def close(self):
        """Ends the session (every process of it dies, its files go) and forgets it. A session
        already gone is fine."""
        try:
            self.client._call("DELETE", self._path())
        except (NotFound, Gone):
            pass
