"""gateway.py - start and stop a pi-gateway + private redis-server stack for integration tests.

Python 3 stdlib only (run with /usr/bin/python3). Every process started here is stopped by PID
when the stack closes; nothing else is touched. Typical use:

    from gateway import Stack
    with Stack(bin_dir, scheduler="local") as s:
        st, hdr, job = s.gw.json("POST", "/job", {"digits": 1000})
        s.gw.wait_state(job["id"], {"finished"})

Reused by the Slurm and S3 tests: pass store_url=... and extra gateway flags via args=[...].
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from redis import RedisServer  # tests/support/redis.py (this folder), not the PyPI package


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a true value (returned) or raises after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Gateway:
    """A pi-gateway process and a small HTTP client for it."""

    def __init__(self, bin_dir, redis_url, store_url, state_dir, scheduler="local",
                 args=(), port=None, env=None):
        self.bin = os.path.join(bin_dir, "pi-gateway")
        self.port = port or free_port()
        self.redis_url = redis_url
        self.store_url = store_url
        self.state_dir = state_dir
        self.scheduler = scheduler
        self.args = list(args)
        self.env = dict(os.environ if env is None else env)
        self.proc = None
        self.log_path = os.path.join(state_dir, "gateway-%d.log" % self.port)

    def start(self, wait=True):
        argv = [self.bin, "--listen", "127.0.0.1:%d" % self.port, "--redis", self.redis_url,
                "--store", self.store_url, "--scheduler", self.scheduler,
                "--state-dir", self.state_dir] + self.args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     env=self.env)
        log.close()
        if wait:
            wait_until(self._listening, 15, "pi-gateway on port %d" % self.port)
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("pi-gateway exited with %s; log:\n%s"
                                 % (self.proc.returncode, self.log()))
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self, tail=6000):
        """The gateway's log: its last `tail` characters, or all of it with tail=None."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
                return text if tail is None else text[-tail:]
        except OSError:
            return ""

    def stop(self, timeout=20):
        """SIGTERM, wait; returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("pi-gateway ignored SIGTERM for %ds" % timeout)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL: the crash case."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    # --- HTTP ---
    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, headers dict with lowercase names, body bytes)."""
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h = dict(headers or {})
            if body is not None and "Content-Type" not in h:
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def json(self, method, path, body=None, headers=None):
        st, hdr, data = self.request(method, path, body, headers)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            raise AssertionError("%s %s -> %d with non-JSON body %r" % (method, path, st, data[:200]))
        return st, hdr, doc

    def job(self, job_id):
        st, _, doc = self.json("GET", "/job/" + job_id)
        assert st == 200, (st, doc)
        return doc

    def submit(self, digits):
        st, hdr, doc = self.json("POST", "/job", {"digits": digits})
        assert st == 201, (st, doc)
        return doc["id"]

    def wait_state(self, job_id, states, timeout=120):
        """Waits until the job is in one of states; returns the job."""
        last = {}

        def check():
            last["job"] = self.job(job_id)
            return last["job"]["state"] in states and last["job"]

        try:
            return wait_until(check, timeout, "job %s to reach %s" % (job_id, sorted(states)),
                              interval=0.1)
        except AssertionError as e:
            raise AssertionError("%s; last seen %s\ngateway log:\n%s"
                                 % (e, last.get("job"), self.log()))


def compute_env(base=None):
    """Environment for processes that run mpirun (Open MPI as root; leak checks off for MPI)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    # Under the sanitizer build Open MPI's own leaks would fail every rank at exit.
    opts = env.get("ASAN_OPTIONS", "")
    if "detect_leaks" not in opts:
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=0"
    return env


class Stack:
    """A temp dir with a redis-server, a file:// store and a pi-gateway; closes everything."""

    def __init__(self, bin_dir, scheduler="local", args=(), store_url=None, env=None,
                 keep=False):
        self.bin_dir = bin_dir
        self.dir = tempfile.mkdtemp(prefix="picluster-gw-")
        self.keep = keep
        self.redis = RedisServer(aof=True, dir=os.path.join(self.dir, "redis"))
        self.store_dir = os.path.join(self.dir, "objects")
        os.makedirs(self.store_dir)
        self.store_url = store_url or "file://" + self.store_dir
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.state_dir)
        self.env = compute_env(env) if scheduler != "none" else dict(os.environ if env is None else env)
        self.scheduler = scheduler
        self.args = list(args)
        self.gateways = []
        self.gw = None

    def new_gateway(self, scheduler=None, args=None, port=None, start=True):
        g = Gateway(self.bin_dir, self.redis.url, self.store_url, self.state_dir,
                    scheduler or self.scheduler, self.args if args is None else args,
                    port=port, env=self.env)
        self.gateways.append(g)
        if start:
            g.start()
        return g

    def __enter__(self):
        self.redis.start()
        self.gw = self.new_gateway()
        return self

    def __exit__(self, *exc):
        for g in self.gateways:
            try:
                g.stop()
            except AssertionError:
                pass
        # Compute processes of this stack (their command line names its store) outlive a
        # killed gateway: end them by PID.
        for pid in processes_with_arg(self.store_url, "--job-id"):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.redis.close()
        if exc[0] is not None:
            for g in self.gateways:
                print("---- gateway log (port %d) ----\n%s" % (g.port, g.log()))
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


def processes_with_arg(*needles):
    """PIDs of live processes whose command line contains every needle (e.g. a job id)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % d) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if all(n.encode() in cmd for n in needles) and state != "Z":
            found.append(int(d))
    return found
