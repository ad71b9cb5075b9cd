"""gateway.py - start and stop a pi-gateway + private redis-server stack for integration tests.

Python 3 stdlib only (run with /usr/bin/python3). Every process started here is stopped by PID
when the stack closes; nothing else is touched. Typical use:

    from gateway import Stack
    with Stack(bin_dir, scheduler="local") as s:
        st, hdr, job = s.gw.json("POST", "/job", {"digits": 1000})
        s.gw.wait_state(job["id"], {"finished"})

Reused by the Slurm and S3 tests: pass store_url=... and extra gateway flags via args=[...].

API keys. pi-gateway's default is --auth keys, so before a gateway starts its Stack makes an
admin key (`pi-gateway key create test-admin --admin`, once per Redis key prefix) and every
request of its HTTP helpers carries `Authorization: Bearer <that secret>`:

    s.gw.json("GET", "/jobs")                        # as the stack's admin key
    alice = s.make_key("alice")                      # more keys (admin=, max_queued=, ...)
    s.gw.json("POST", "/job", {"digits": 5}, key=alice)   # as alice
    s.gw.request("GET", "/jobs", key=None)           # no Authorization header at all
    b"GET /jobs HTTP/1.1\r\n" + s.gw.auth_header() + b"Host: x\r\n\r\n"   # raw sockets

An Authorization header given in headers= is sent as it is. Stack(..., auth="none") runs the
gateways with --auth none (no key made); Stack(..., key_name=None) makes no key and sends no
header (a gateway with keys that every caller must authenticate to by hand).
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


# request(..., key=DEFAULT_KEY): the gateway's own key; key=None: no Authorization header.
DEFAULT_KEY = object()
ADMIN_KEY_NAME = "test-admin"


def flag_value(args, flag):
    """The value of the last `--flag VALUE` or `--flag=VALUE` in args, or None."""
    value = None
    for i, a in enumerate(args):
        if a == "--" + flag and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith("--" + flag + "="):
            value = a.split("=", 1)[1]
    return value


def make_key(bin_dir, redis_url, name, admin=False, key_prefix=None, password_file=None,
             env=None, **limits):
    """Creates an API key with `pi-gateway key create NAME` and returns its secret (the one
    line of stdout). limits: max_queued=N, max_running=N, max_digits=N, digits_per_day=N."""
    argv = [os.path.join(bin_dir, "pi-gateway"), "key", "create", name, "--redis", redis_url]
    if admin:
        argv.append("--admin")
    for flag, value in limits.items():
        argv += ["--" + flag.replace("_", "-"), str(value)]
    if key_prefix:
        argv += ["--key-prefix", key_prefix]
    if password_file:
        argv += ["--redis-password-file", password_file]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL, env=env)
    secret = p.stdout.strip()
    if p.returncode != 0 or not secret or "\n" in secret:
        raise AssertionError("pi-gateway key create %s exited %d: %s%s"
                             % (name, p.returncode, p.stdout, p.stderr))
    return secret


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
    """A pi-gateway process and a small HTTP client for it.

    auth: "keys" (pi-gateway's default: no flag is added) or "none" (adds --auth none); an
    --auth in args wins. key: DEFAULT_KEY makes an admin key named key_name at start() when
    the gateway checks keys (shared through the dict `keys`, by key prefix, among the
    gateways of one Stack); None: no key and no header; a string: that secret."""

    def __init__(self, bin_dir, redis_url, store_url, state_dir, scheduler="local",
                 args=(), port=None, env=None, auth="keys", key=DEFAULT_KEY,
                 key_name=ADMIN_KEY_NAME, keys=None):
        self.bin_dir = bin_dir
        self.bin = os.path.join(bin_dir, "pi-gateway")
        self.port = port or free_port()
        self.redis_url = redis_url
        self.store_url = store_url
        self.state_dir = state_dir
        self.scheduler = scheduler
        self.args = list(args)
        if auth == "none" and flag_value(self.args, "auth") is None:
            self.args += ["--auth", "none"]
        self.env = dict(os.environ if env is None else env)
        self.proc = None
        self.log_path = os.path.join(state_dir, "gateway-%d.log" % self.port)
        self.key = None if key is DEFAULT_KEY else key
        self._make_key = key is DEFAULT_KEY
        # A gateway of its own names its key after its port: two on one Redis do not collide.
        self.key_name = key_name if keys is not None else "%s-%d" % (key_name, self.port)
        self.keys = {} if keys is None else keys

    @property
    def auth(self):
        """"keys" or "none": what this gateway checks (its flags, its environment, default)."""
        return flag_value(self.args, "auth") or self.env.get("PICLUSTER_AUTH") or "keys"

    @property
    def key_prefix(self):
        return (flag_value(self.args, "key-prefix") or self.env.get("PICLUSTER_KEY_PREFIX")
                or "picluster:")

    def make_key(self, name, admin=False, **limits):
        """A new API key in this gateway's Redis under its key prefix; returns the secret."""
        return make_key(self.bin_dir, self.redis_url, name, admin=admin,
                        key_prefix=self.key_prefix,
                        password_file=flag_value(self.args, "redis-password-file"),
                        env=self.env, **limits)

    def _ensure_key(self):
        if not self._make_key or self.key or self.auth != "keys":
            return
        prefix = self.key_prefix
        if prefix not in self.keys:
            self.keys[prefix] = self.make_key(self.key_name, admin=True)
        self.key = self.keys[prefix]

    def auth_header(self, key=DEFAULT_KEY):
        """b"Authorization: Bearer <secret>\r\n" for raw requests, or b"" without a key."""
        secret = self.key if key is DEFAULT_KEY else key
        return b"Authorization: Bearer %s\r\n" % secret.encode() if secret else b""

    def start(self, wait=True):
        self._ensure_key()
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
    def request(self, method, path, body=None, headers=None, conn=None, key=DEFAULT_KEY):
        """Returns (status, headers dict with lowercase names, body bytes). Sent as key (the
        gateway's own by default; None: without Authorization) unless headers has one."""
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
            secret = self.key if key is DEFAULT_KEY else key
            if secret and not any(k.lower() == "authorization" for k in h):
                h["Authorization"] = "Bearer " + secret
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def json(self, method, path, body=None, headers=None, key=DEFAULT_KEY):
        st, hdr, data = self.request(method, path, body, headers, key=key)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            raise AssertionError("%s %s -> %d with non-JSON body %r" % (method, path, st, data[:200]))
        return st, hdr, doc

    def job(self, job_id, key=DEFAULT_KEY):
        st, _, doc = self.json("GET", "/job/" + job_id, key=key)
        assert st == 200, (st, doc)
        return doc

    def submit(self, digits, key=DEFAULT_KEY):
        st, hdr, doc = self.json("POST", "/job", {"digits": digits}, key=key)
        assert st == 201, (st, doc)
        return doc["id"]

    def wait_state(self, job_id, states, timeout=120, key=DEFAULT_KEY):
        """Waits until the job is in one of states; returns the job."""
        last = {}

        def check():
            last["job"] = self.job(job_id, key=key)
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
    """A temp dir with a redis-server, a file:// store and a pi-gateway; closes everything.
    auth="none" runs its gateways with --auth none; key_name=None makes no key (see the top)."""

    def __init__(self, bin_dir, scheduler="local", args=(), store_url=None, env=None,
                 keep=False, auth="keys", key_name=ADMIN_KEY_NAME):
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
        self.auth = auth
        self.key_name = key_name
        self.keys = {}  # key prefix -> the secret of the stack's admin key there
        self.gateways = []
        self.gw = None

    @property
    def key(self):
        """The secret the first gateway sends (None without one)."""
        return self.gw.key if self.gw else None

    def make_key(self, name, admin=False, key_prefix=None, **limits):
        """A new API key in the stack's Redis (under the stack's key prefix unless given);
        returns its secret. limits: max_queued=N, max_running=N, max_digits=N,
        digits_per_day=N."""
        return make_key(self.bin_dir, self.redis.url, name, admin=admin,
                        key_prefix=key_prefix or flag_value(self.args, "key-prefix")
                        or self.env.get("PICLUSTER_KEY_PREFIX"),
                        password_file=flag_value(self.args, "redis-password-file"),
                        env=self.env, **limits)

    def new_gateway(self, scheduler=None, args=None, port=None, start=True, auth=None):
        g = Gateway(self.bin_dir, self.redis.url, self.store_url, self.state_dir,
                    scheduler or self.scheduler, self.args if args is None else args,
                    port=port, env=self.env, auth=auth or self.auth,
                    key=DEFAULT_KEY if self.key_name else None,
                    key_name=self.key_name or ADMIN_KEY_NAME, keys=self.keys)
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
