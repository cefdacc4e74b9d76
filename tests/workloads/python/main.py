"""The python3 workload: asyncio on loopback, multiprocessing, subprocess, sqlite3, ssl,
getaddrinfo, tempfile, threading and friends, each checked."""
import asyncio
import concurrent.futures
import fcntl
import hashlib
import json
import mmap
import multiprocessing
import os
import selectors
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import http.server
import zlib


def square(x):
    return x * x


def child_pid(_):
    return os.getpid()


async def asyncio_part():
    async def handle(reader, writer):
        data = await reader.readline()
        writer.write(b"echo:" + data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"msg%d\n" % i)
        await writer.drain()
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return line

    lines = await asyncio.gather(*(client(i) for i in range(20)))
    assert lines == [b"echo:msg%d\n" % i for i in range(20)], lines
    server.close()
    await server.wait_closed()
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", "echo async-child", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert out == b"async-child\n" and proc.returncode == 0
    assert await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2, 3]) == 6
    infos = await asyncio.get_running_loop().getaddrinfo("localhost", 80)
    assert infos


def main():
    asyncio.run(asyncio_part())
    print("asyncio ok")

    # multiprocessing: the default (fork), spawn and forkserver contexts; shared state
    with multiprocessing.Pool(4) as pool:
        assert pool.map(square, range(100)) == [x * x for x in range(100)]
    for method in ("spawn", "forkserver"):
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(2) as pool:
            assert pool.map(square, range(10)) == [x * x for x in range(10)], method
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=q.put, args=("from-child",))
    p.start()
    assert q.get(timeout=30) == "from-child"
    p.join()
    assert p.exitcode == 0
    v = multiprocessing.Value("i", 0)
    lock = multiprocessing.Lock()
    with lock:
        v.value += 1
    assert v.value == 1
    with concurrent.futures.ProcessPoolExecutor(2) as ex:
        assert len(set(ex.map(child_pid, range(8)))) >= 1
    print("multiprocessing ok")

    # subprocess
    r = subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n"), r
    assert subprocess.check_output([sys.executable, "-c", "print(6*7)"]) == b"42\n"
    p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.communicate(b"x" * 200000)[0] == b"x" * 200000
    try:
        subprocess.run(["sleep", "10"], timeout=0.2)
        raise AssertionError("no timeout")
    except subprocess.TimeoutExpired:
        pass
    print("subprocess ok")

    # sqlite3: a file database in WAL mode (shared memory file), a transaction, an index
    db = sqlite3.connect("out.db")
    assert db.execute("pragma journal_mode=wal").fetchone()[0] == "wal"
    db.execute("create table t (k integer primary key, v text)")
    with db:
        db.executemany("insert into t (v) values (?)", (("row%d" % i,) for i in range(10000)))
    db.execute("create index tv on t(v)")
    assert db.execute("select count(*) from t where v like 'row9%'").fetchone()[0] == 1111
    db2 = sqlite3.connect("out.db")
    assert db2.execute("select count(*) from t").fetchone()[0] == 10000
    db2.close()
    db.execute("vacuum")
    db.close()
    mem = sqlite3.connect(":memory:")
    assert mem.execute("select sqlite_version()").fetchone()
    print("sqlite3 ok")

    # ssl: a default context (loads the system CA certificates), a hash, a random token
    ctx = ssl.create_default_context()
    assert ctx.cert_store_stats()["x509_ca"] > 0, ctx.cert_store_stats()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")
    assert len(os.urandom(32)) == 32
    print("ssl ok")

    # sockets: getaddrinfo, loopback tcp v4/v6, udp, unix, socketpair
    infos = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    assert any(i[4][0] in ("127.0.0.1", "::1") for i in infos), infos
    assert socket.gethostname() == "brood"
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as srv:
            srv.bind((host, 0))
            srv.listen()
            with socket.create_connection(srv.getsockname()[:2]) as c:
                conn, _ = srv.accept()
                c.sendall(b"hi")
                assert conn.recv(2) == b"hi"
                conn.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        u.sendto(b"dgram", u.getsockname())
        assert u.recv(5) == b"dgram"
    a, b = socket.socketpair()
    a.send(b"pair")
    assert b.recv(4) == b"pair"
    with socket.socket(socket.AF_UNIX) as us:
        us.bind("/tmp/wl.sock")
        us.listen()
    # an http server on loopback, fetched with urllib
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    with open("served.txt", "w") as f:
        f.write("served")
    with urllib.request.urlopen("http://127.0.0.1:%d/served.txt" % httpd.server_address[1]) as r:
        assert r.read() == b"served"
    httpd.shutdown()
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_WRITE)
    assert sel.select(1)
    print("sockets ok")

    # tempfile, files, locks, mmap
    with tempfile.TemporaryDirectory() as d:
        assert d.startswith("/tmp/")
        with tempfile.NamedTemporaryFile(dir=d, delete=False) as f:
            f.write(b"x" * 4096)
        with open(f.name, "r+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fcntl.lockf(fh, fcntl.LOCK_UN)
            with mmap.mmap(fh.fileno(), 0) as mm:
                mm[0:1] = b"y"
        shutil.copytree(d, "copied")
    with tempfile.SpooledTemporaryFile(max_size=10) as sf:
        sf.write(b"z" * 100)
    assert os.listdir("copied")
    os.makedirs("a/b/c", exist_ok=True)
    shutil.make_archive("arch", "gztar", "copied")
    shutil.rmtree("copied")
    assert zlib.decompress(zlib.compress(b"q" * 1000)) == b"q" * 1000
    print("files ok")

    # threading: threads, a thread pool, events, timers, locks
    counter = [0]
    lock = threading.Lock()

    def bump():
        for _ in range(10000):
            with lock:
                counter[0] += 1

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert counter[0] == 80000
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        assert list(ex.map(square, range(10))) == [x * x for x in range(10)]
    ev = threading.Event()
    threading.Timer(0.01, ev.set).start()
    assert ev.wait(5)
    print("threading ok")

    # signals, time, process facts
    got = []
    signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
    os.kill(os.getpid(), signal.SIGUSR1)
    assert got == [signal.SIGUSR1]
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    signal.signal(signal.SIGALRM, lambda s, f: got.append(s))
    time.sleep(0.1)
    assert signal.SIGALRM in got
    assert time.monotonic() > 0 and time.time() > 1.6e9 and time.process_time() >= 0
    assert os.sched_getaffinity(0) and os.cpu_count() >= 1
    assert os.getuid() == 1000 and os.getcwd() == "/workspace"
    json.dumps(dict(os.environ))
    print("process ok")


if __name__ == "__main__":
    main()
    print("WORKLOAD-OK python")
