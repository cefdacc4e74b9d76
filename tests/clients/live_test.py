"""Tests of clients/python/brood_client.py against a real `brood serve`.

    BROOD_BIN=build-release/brood python3 tests/clients/live_test.py [-v]   (from the repo's root)
    python3 tests/clients/live_test.py [-v] build-release/brood              (the same)

One server for the whole module: `brood serve --listen 127.0.0.1:0 --unix SOCK --token-file F
-j 2` in a temporary state dir; its address is read from the line it prints on stderr. The tests
drive it through the client only (run, batches, cancel, forget, errors, metrics, the unix socket,
threads). At the end the server gets SIGTERM and must exit 0 within SHUTDOWN seconds.

The server is started with PR_SET_PDEATHSIG: it dies with this process if the test is killed.
"""

import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))
from brood_client import (  # noqa: E402
    BadRequest, Client, InvalidJob, NotFound, SessionEnded, Unauthorized,
)

WAIT = 60       # seconds: how long a test waits for the server before it fails (never a delay)
SHUTDOWN = 30   # seconds: SIGTERM to exit
TOKEN = "live-test-token-0123456789"

SERVER = None   # the LiveServer of this module


def _die_with_parent():
    """In the child, before exec: SIGTERM when the test process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LiveServer:
    """A `brood serve` child: its url, unix socket, state dir, stderr log."""

    def __init__(self, brood, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="brood-live.")
        self.state_dir = os.path.join(self.tmp, "state")
        self.socket_path = os.path.join(self.tmp, "brood.sock")
        self.token_file = os.path.join(self.tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.log_path = os.path.join(self.tmp, "serve.log")
        self.log = open(self.log_path, "wb")
        argv = [brood, "serve", "--listen", "127.0.0.1:0", "--unix", self.socket_path,
                "--state-dir", self.state_dir, "--token-file", self.token_file, "-j", "2",
                *extra_args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.url = self._wait_for_address()

    def _wait_for_address(self):
        deadline = time.monotonic() + WAIT
        pattern = re.compile(r"brood serve: listening on (http://\S+)")
        while time.monotonic() < deadline:
            match = pattern.search(self.read_log())
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"brood serve exited {self.proc.returncode} before it "
                                   f"listened:\n{self.read_log()}")
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"brood serve did not listen within {WAIT} s:\n{self.read_log()}")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; the exit code (None when it had to be killed after SHUTDOWN seconds)."""
        code = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=SHUTDOWN)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def brood_binary():
    """The brood binary: the first argument that is an executable file (taken out of argv, the
    rest goes to unittest), else $BROOD_BIN."""
    for arg in sys.argv[1:]:
        if not arg.startswith("-") and os.path.isfile(arg) and os.access(arg, os.X_OK):
            sys.argv.remove(arg)
            return arg
    return os.environ.get("BROOD_BIN", "")


BROOD = os.environ.get("BROOD_BIN", "")


def setUpModule():
    global SERVER
    if not BROOD or not os.access(BROOD, os.X_OK):
        raise RuntimeError(f"no brood binary: give BROOD_BIN or its path (got {BROOD!r})")
    SERVER = LiveServer(BROOD)


def tearDownModule():
    if SERVER is None:
        return
    began = time.monotonic()
    code = SERVER.stop()
    took = time.monotonic() - began
    log = SERVER.read_log()
    SERVER.cleanup()
    if code != 0:
        raise AssertionError(f"brood serve: exit {code} after SIGTERM (None: still running after "
                             f"{SHUTDOWN} s, killed); its log:\n{log}")
    if "brood serve: stopped" not in log:
        raise AssertionError(f"brood serve exited 0 in {took:.1f} s without 'stopped':\n{log}")


def client(**kw):
    return Client(SERVER.url, token=TOKEN, timeout=WAIT, **kw)


def wait_until(predicate, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_records(batch, timeout=20):
    """Every record of a batch that must end within `timeout` seconds."""
    records, errors = [], []

    def read():
        try:
            records.extend(batch.results())
        except Exception as e:  # noqa: BLE001: reported below
            errors.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise AssertionError(f"the results of batch {batch.id} did not end within {timeout} s")
    if errors:
        raise errors[0]
    return records


class Run(unittest.TestCase):
    def setUp(self):
        self.client = client()

    def tearDown(self):
        self.client.close()

    def test_echo(self):
        r = self.client.run({"id": "hello", "cmd": ["/bin/echo", "hi", "there"]})
        self.assertEqual(r["id"], "hello")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["exit_code"], 0)
        self.assertEqual(r["stdout"], "hi there\n")
        self.assertEqual(r["stderr"], "")
        self.assertGreaterEqual(r["wall_ms"], 0)
        self.assertIsNone(r["error"])

    def test_shell_stdin_files_and_failure(self):
        r = self.client.run({"id": "sh", "shell": "cat in.txt; read x; echo $x; exit 3",
                             "stdin": "from stdin\n", "files": {"in.txt": "from a file\n"}})
        self.assertEqual(r["status"], "failed", r)
        self.assertEqual(r["exit_code"], 3)
        self.assertEqual(r["stdout"], "from a file\nfrom stdin\n")

    def test_id_is_given_when_missing(self):
        r = self.client.run({"cmd": ["/bin/true"]})
        self.assertEqual(r["status"], "ok", r)
        self.assertRegex(r["id"], r"^\S+$")

    def test_expect_is_judged(self):
        r = self.client.run({"id": "x", "shell": "echo 42", "expect": {"stdout": "42\n"}})
        self.assertIs(r["passed"], True, r)
        r = self.client.run({"id": "y", "shell": "echo 41", "expect": {"stdout": "42\n"}})
        self.assertIs(r["passed"], False, r)

    def test_evaluated_job_has_per_test_verdicts(self):
        # A program and its tests as one job (docs/eval.md): the second test's answer is wrong.
        r = self.client.run({
            "id": "double", "language": "python",
            "files": {"main.py": "print(int(input()) * 2)\n"}, "stop": "all",
            "tests": [{"id": "a", "stdin": "2", "expect": {"stdout": "4\n"}},
                      {"id": "b", "stdin": "3", "expect": {"stdout": "7\n"}},
                      {"id": "c", "stdin": "x"}]})
        self.assertEqual(r["verdict"], "wrong_answer", r)
        self.assertEqual([t["verdict"] for t in r["tests"]],
                         ["accepted", "wrong_answer", "runtime_error"], r)
        self.assertEqual((r["tests_passed"], r["tests_total"], r["passed"]), (1, 3, False), r)
        self.assertEqual(r["stdout"], "6\n", r)  # the deciding test's

    def test_timeout(self):
        r = self.client.run({"id": "slow", "cmd": ["/bin/sleep", "10"],
                             "limits": {"wall_ms": 300}})
        self.assertEqual(r["status"], "timeout", r)

    def test_invalid_job_memory_zero(self):
        with self.assertRaises(InvalidJob) as caught:
            self.client.run({"id": "m0", "cmd": ["/bin/true"], "limits": {"memory_mb": 0}})
        e = caught.exception
        self.assertEqual(e.status, 400)
        self.assertEqual(e.record["status"], "invalid_job")
        self.assertEqual(e.record["id"], "m0")
        self.assertIn("memory_mb", e.error)
        self.assertIsInstance(e, BadRequest)

    def test_invalid_job_unknown_field(self):
        with self.assertRaises(InvalidJob) as caught:
            self.client.run({"id": "u", "cmd": ["/bin/true"], "colour": "blue"})
        self.assertIn("colour", caught.exception.error)

    def test_network_host_is_refused(self):
        # Without --allow-host-network: a 400 invalid_job record (not a 403).
        with self.assertRaises(InvalidJob) as caught:
            self.client.run({"id": "net", "cmd": ["/bin/true"], "network": "host"})
        e = caught.exception
        self.assertEqual(e.status, 400)
        self.assertEqual(e.record["status"], "invalid_job")
        self.assertEqual(e.record["id"], "net")
        self.assertIn("network", e.error)

    def test_the_connection_is_kept_alive_after_an_error(self):
        with self.assertRaises(InvalidJob):
            self.client.run({"id": "bad", "cmd": []})
        self.assertEqual(self.client.run({"id": "good", "cmd": ["/bin/true"]})["status"], "ok")


class Auth(unittest.TestCase):
    def test_wrong_token(self):
        with Client(SERVER.url, token="not-the-token", timeout=WAIT) as c:
            with self.assertRaises(Unauthorized) as caught:
                c.run({"id": "t", "cmd": ["/bin/true"]})
            self.assertEqual(caught.exception.status, 401)
            self.assertEqual(caught.exception.field, "Authorization")
            with self.assertRaises(Unauthorized):
                c.submit_batch([{"id": "a", "cmd": ["/bin/true"]}])
            with self.assertRaises(Unauthorized):
                c.metrics()
            self.assertTrue(c.healthy())  # /healthz needs no token

    def test_no_token(self):
        with Client(SERVER.url, timeout=WAIT) as c:
            with self.assertRaises(Unauthorized):
                c.run({"id": "t", "cmd": ["/bin/true"]})
            with self.assertRaises(Unauthorized):
                c.ready()

    def test_health_and_ready(self):
        with client() as c:
            self.assertTrue(c.healthy())
            self.assertTrue(c.ready())


class Batches(unittest.TestCase):
    def setUp(self):
        self.client = client()

    def tearDown(self):
        self.client.close()

    def test_results_exactly_once(self):
        n = 50
        jobs = ({"id": f"j{i}", "shell": f"echo {i}"} for i in range(n))
        batch = self.client.submit_batch(jobs)
        self.assertRegex(batch.id, r"^[0-9a-f]{32}$")
        records = list(batch.results())
        ids = [r["id"] for r in records]
        self.assertEqual(len(ids), n)
        self.assertEqual(sorted(ids), sorted(f"j{i}" for i in range(n)))
        for r in records:
            self.assertEqual(r["status"], "ok", r)
            self.assertEqual(r["stdout"], r["id"][1:] + "\n")
        status = batch.status()
        self.assertEqual(status["id"], batch.id)
        self.assertEqual(status["state"], "done")
        self.assertEqual(status["jobs_submitted"], n)
        self.assertEqual(status["jobs_done"], n)
        self.assertEqual(status["counts"], {"ok": n})
        # Resumed from a position: the same records, in the same order.
        tail = [r["id"] for r in self.client.batch(batch.id).results(after=20)]
        self.assertEqual(tail, ids[20:])
        self.assertEqual(list(batch.results(after=n)), [])
        batch.forget()

    def test_status_counts(self):
        jobs = ([{"id": f"ok{i}", "cmd": ["/bin/true"]} for i in range(5)]
                + [{"id": f"f{i}", "shell": "exit 2"} for i in range(3)]
                + [{"id": "m0", "cmd": ["/bin/true"], "limits": {"memory_mb": 0}},
                   {"id": "net", "cmd": ["/bin/true"], "network": "host"},
                   "this is not json",
                   {"cmd": ["/bin/true"]}])  # batch jobs need their id
        batch = self.client.submit_batch(jobs)
        records = list(batch.results())
        self.assertEqual(len(records), len(jobs))
        by_id = {r["id"]: r for r in records}
        self.assertEqual(by_id["net"]["status"], "invalid_job")
        self.assertIn("network", by_id["net"]["error"])
        self.assertEqual(by_id["m0"]["status"], "invalid_job")
        self.assertEqual(by_id["f0"]["status"], "failed")
        self.assertEqual(by_id["f0"]["exit_code"], 2)
        status = batch.status()
        self.assertEqual(status["state"], "done")
        self.assertEqual(status["jobs_submitted"], len(jobs))
        self.assertEqual(status["jobs_done"], len(jobs))
        self.assertEqual(status["counts"], {"ok": 5, "failed": 3, "invalid_job": 4})
        self.assertEqual(batch.wait()["state"], "done")
        batch.forget()

    def test_job_lines_as_text(self):
        lines = [f'{{"id":"l{i}","cmd":["/bin/echo","{i}"]}}' for i in range(10)]
        batch = self.client.submit_batch(lines)
        records = list(batch.results())
        self.assertEqual(sorted(r["stdout"] for r in records),
                         sorted(f"{i}\n" for i in range(10)))
        batch.forget()

    def test_concurrent_uploads_keep_their_own_lines(self):
        # Two bodies sent at once, a small chunk at a time (http.client itself: brood_client
        # gathers 64 KiB per chunk): each batch runs its own lines. Once a shared read buffer
        # in the server gave batch A the lines of batch B.
        url = urllib.parse.urlsplit(SERVER.url)
        lines = 20
        ids, errors = {}, []

        def upload(tag):
            def body():
                for i in range(lines):
                    job = {"id": f"{tag}{i}", "cmd": ["/bin/echo", tag]}
                    yield json.dumps(job).encode() + b"\n"
                    time.sleep(0.01)
            try:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=WAIT)
                conn.request("POST", "/v1/batches", body=body(), encode_chunked=True,
                             headers={"Content-Type": "application/x-ndjson",
                                      "Authorization": f"Bearer {TOKEN}"})
                reply = conn.getresponse()
                ids[tag] = json.loads(reply.read())["id"]
                conn.close()
            except Exception as e:  # noqa: BLE001: reported below
                errors.append(repr(e))

        uploads = [threading.Thread(target=upload, args=(tag,)) for tag in "AB"]
        for u in uploads:
            u.start()
        for u in uploads:
            u.join(WAIT)
        self.assertEqual(errors, [])
        for tag in "AB":
            batch = self.client.batch(ids[tag])
            records = list(batch.results())
            self.assertEqual(sorted(r["id"] for r in records),
                             sorted(f"{tag}{i}" for i in range(lines)), f"batch {tag}")
            self.assertEqual({r["stdout"] for r in records}, {tag + "\n"})
            batch.forget()

    def test_cancel(self):
        n = 20
        jobs = [{"id": f"s{i}", "cmd": ["/bin/sleep", "30"], "limits": {"wall_ms": 60000}}
                for i in range(n)]
        began = time.monotonic()
        batch = self.client.submit_batch(jobs)
        self.assertEqual(batch.status()["state"], "running")
        time.sleep(1)  # the first sleeps have started: cancel kills them, and drops the rest
        status = batch.cancel()
        self.assertEqual(status["state"], "cancelled", status)  # at once, as docs/serve.md says
        self.assertEqual(batch.status()["state"], "cancelled")
        records = wait_for_records(batch)  # ends: the batch is over
        final = batch.status()
        self.assertEqual(final["state"], "cancelled")
        self.assertLess(final["jobs_done"], n)
        self.assertNotIn("ok", final["counts"])
        self.assertEqual(len(records), final["jobs_done"])
        self.assertEqual(len({r["id"] for r in records}), len(records))
        for r in records:
            self.assertNotEqual(r["status"], "ok", r)
        self.assertLess(time.monotonic() - began, 25, "cancel did not stop the sleeps")
        self.assertEqual(batch.cancel()["state"], "cancelled")  # again: the same answer
        batch.forget()

    def test_forget(self):
        batch = self.client.submit_batch([{"id": "a", "cmd": ["/bin/true"]}])
        self.assertEqual(batch.wait()["state"], "done")
        batch.forget()
        with self.assertRaises(NotFound):
            batch.status()
        with self.assertRaises(NotFound):
            list(batch.results())
        with self.assertRaises(NotFound):
            batch.cancel()
        with self.assertRaises(NotFound):
            batch.forget()

    def test_unknown_batch(self):
        with self.assertRaises(NotFound):
            self.client.batch("0" * 32).status()
        with self.assertRaises(NotFound):
            self.client.batch("no-such-batch").status()


class Metrics(unittest.TestCase):
    def test_metrics(self):
        with client() as c:
            c.run({"id": "m", "cmd": ["/bin/true"]})
            text = c.metrics()
        self.assertIn("brood_tasks_total", text)
        self.assertRegex(text, r'brood_tasks_total\{[^}]*status="ok"[^}]*\} [1-9]')


class UnixSocket(unittest.TestCase):
    def test_run(self):
        with Client("unix://" + SERVER.socket_path, token=TOKEN, timeout=WAIT) as c:
            r = c.run({"id": "u", "cmd": ["/bin/echo", "over a unix socket"]})
            self.assertEqual(r["status"], "ok", r)
            self.assertEqual(r["stdout"], "over a unix socket\n")
            batch = c.submit_batch({"id": f"u{i}", "cmd": ["/bin/true"]} for i in range(5))
            self.assertEqual(len(list(batch.results())), 5)
            batch.forget()
        with Client("unix://" + SERVER.socket_path, token="wrong", timeout=WAIT) as c:
            with self.assertRaises(Unauthorized):
                c.run({"id": "u", "cmd": ["/bin/true"]})


class Sessions(unittest.TestCase):
    def setUp(self):
        self.client = client()

    def tearDown(self):
        self.client.close()

    def test_a_session_round_trip(self):
        with self.client.session(limits={"memory_mb": 256, "wall_ms": 20000},
                                 env={"WHO": "session"}, files={"given.txt": "given\n"},
                                 idle_timeout_s=120) as s:
            self.assertRegex(s.id, r"^s-[0-9a-f]{32}$")
            s.put_file("src/main.py", "print(6*7)\n")
            r = s.exec(cmd=["python3", "src/main.py"])
            self.assertEqual((r["id"], r["status"], r["stdout"]), ("1", "ok", "42\n"), r)
            r = s.exec(shell="cat given.txt; echo $WHO $MINE > out.txt; cat", stdin=b"in\n",
                       env={"MINE": "exec"})
            self.assertEqual(r["stdout"], "given\nin\n", r)
            self.assertEqual(s.get_file("out.txt"), b"session exec\n")
            r = s.exec(shell="sleep 10", limits={"wall_ms": 200})
            self.assertEqual(r["status"], "timeout", r)
            usage = s.usage()
            self.assertEqual(set(usage), {"memory_bytes", "peak_memory_bytes", "cpu_ms", "pids",
                                          "disk_bytes"})
            self.assertGreater(usage["disk_bytes"], 0)
            self.assertIn(s.id, [i["id"] for i in self.client.sessions()])
            with self.assertRaises(BadRequest) as caught:
                s.get_file("../etc/passwd")
            self.assertEqual(caught.exception.field, "path")
            with self.assertRaises(NotFound):
                s.get_file("missing")
        with self.assertRaises(NotFound):
            s.info()

    def test_an_idle_session_ends(self):
        s = self.client.session(idle_timeout_s=1)
        wait_until(lambda: s.info()["state"] == "ended", "the idle session to end")
        with self.assertRaises(SessionEnded) as caught:
            s.exec(cmd=["/bin/true"])
        self.assertEqual(caught.exception.ended_reason, "idle")
        s.close()
        s.close()

    def test_over_a_unix_socket(self):
        with Client("unix://" + SERVER.socket_path, token=TOKEN, timeout=WAIT) as c:
            with c.session() as s:
                s.put_file("a", b"\x00\x01")
                self.assertEqual(s.exec(cmd=["wc", "-c", "a"])["stdout"], "2 a\n")


class Threads(unittest.TestCase):
    def test_16_threads_run_at_once(self):
        threads, per_thread = 16, 4
        shared = client()
        results, errors = {}, []
        lock = threading.Lock()

        def work(t):
            try:
                for i in range(per_thread):
                    job_id = f"t{t}-{i}"
                    r = shared.run({"id": job_id, "cmd": ["/bin/echo", job_id]})
                    with lock:
                        results[job_id] = r
            except Exception as e:  # noqa: BLE001: reported below
                with lock:
                    errors.append(repr(e))

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(WAIT * 2)
        shared.close()
        self.assertFalse(any(w.is_alive() for w in workers), "a thread is still waiting")
        self.assertEqual(errors, [])
        self.assertEqual(len(results), threads * per_thread)
        for job_id, r in results.items():
            self.assertEqual(r["id"], job_id)
            self.assertEqual(r["status"], "ok", r)
            self.assertEqual(r["stdout"], job_id + "\n")


class Shutdown(unittest.TestCase):
    """SIGTERM to a server of its own while a job runs: the job's answer still comes."""

    def test_sigterm_drains_a_running_job(self):
        server = LiveServer(BROOD)
        try:
            answer = {}

            def run():
                with Client(server.url, token=TOKEN, timeout=WAIT) as c:
                    try:
                        answer["result"] = c.run({"id": "s", "cmd": ["/bin/sleep", "1"]})
                    except Exception as e:  # noqa: BLE001: checked below
                        answer["error"] = e

            with Client(server.url, token=TOKEN, timeout=WAIT) as c:
                self.assertTrue(c.ready())
            runner = threading.Thread(target=run)
            runner.start()
            with Client(server.url, token=TOKEN, timeout=WAIT) as c:
                wait_until(lambda: re.search(r'^brood_tasks_running 1$', c.metrics(), re.M)
                           or "result" in answer or "error" in answer, "the job to be running")
            began = time.monotonic()
            code = server.stop()
            runner.join(WAIT)
            self.assertEqual(code, 0, server.read_log())
            self.assertLess(time.monotonic() - began, SHUTDOWN)
            self.assertNotIn("error", answer)
            self.assertEqual(answer["result"]["status"], "ok", answer)
            with Client(server.url, token=TOKEN, timeout=5) as c:
                self.assertFalse(c.healthy())  # gone
        finally:
            server.stop()
            server.cleanup()


if __name__ == "__main__":
    BROOD = brood_binary()
    unittest.main()
