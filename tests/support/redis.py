"""redis.py - a private redis-server for Python integration tests: free loopback port, temp dir.

Python 3 stdlib only (run with /usr/bin/python3). Typical use:

    from redis import RedisServer
    with RedisServer(aof=True) as r:
        run_gateway("--redis", r.url)          # "redis://127.0.0.1:PORT"
        r.stop(); ...; r.restart()              # same port, same data directory
        r.command("LLEN", "picluster:queue")    # -> 0 (a tiny RESP client, for checks)

The server is stopped by its PID (SIGTERM, then SIGKILL) and its directory removed on exit,
also when the test fails. Nothing else is ever signalled.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    """A loopback port the kernel considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisError(Exception):
    """An error reply from Redis."""


def _read_reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by redis-server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError("unexpected reply %r" % line)


def _encode(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class RedisServer:
    """One redis-server on 127.0.0.1 and a unix socket in its own temporary directory."""

    def __init__(self, aof=False, dir=None, password=None):
        self.aof = aof
        self.password = password  # requirepass; command() and ping() AUTH with it
        self.own_dir = dir is None
        self.dir = dir
        self.port = None
        self.proc = None
        self.url = None
        self.unix_socket = None
        self.unix_url = None

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="picluster-redis-")
        os.makedirs(self.dir, exist_ok=True)
        self.unix_socket = os.path.join(self.dir, "redis.sock")
        self.unix_url = "unix://" + self.unix_socket
        last = None
        # Another process may take the port between free_port() and redis binding it.
        for _ in range(5):
            self.port = free_port()
            self.url = "redis://127.0.0.1:%d" % self.port
            try:
                self._spawn()
                return self
            except RuntimeError as e:
                last = e
        raise last

    def _spawn(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--unixsocket", self.unix_socket, "--unixsocketperm", "700",
                "--save", "", "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.aof:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        with open(os.path.join(self.dir, "redis.log"), "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError("redis-server exited at start; see %s/redis.log" % self.dir)
            if self.ping():
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("redis-server did not answer on port %d" % self.port)

    def ping(self):
        try:
            return self.command("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def command(self, *args, timeout=5):
        """Sends one command on a fresh connection and returns the decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            with s.makefile("rb") as f:
                if self.password:
                    s.sendall(_encode(("AUTH", self.password)))
                    _read_reply(f)
                s.sendall(_encode(args))
                return _read_reply(f)

    def stop(self):
        """Stops the server by PID (SIGTERM, SIGKILL after 5 s); keeps port and data."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """kill -9 by PID: no clean shutdown (what AOF is for)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self):
        """Starts again on the same port and directory after stop() or kill()."""
        self.stop()
        deadline = time.monotonic() + 10
        while True:
            try:
                self._spawn()
                return self
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self):
        self.stop()
        if self.own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False


if __name__ == "__main__":
    # Self-check: python3 tests/support/redis.py
    with RedisServer(aof=True) as r:
        assert r.command("SET", "k", "v") == "OK"
        r.stop()
        assert not r.ping()
        r.restart()
        assert r.command("GET", "k") == "v", "AOF kept the key across a restart"
        assert r.command("LRANGE", "none", 0, -1) == []
        print("redis.py: ok,", r.url)
    with RedisServer(password="t0p secret") as r:
        assert r.command("SET", "k", "v") == "OK"
        r.password = None
        try:
            r.command("GET", "k")
            raise AssertionError("requirepass had no effect")
        except RedisError as e:
            assert str(e).startswith("NOAUTH"), e
        print("redis.py: ok with a password,", r.url)
