"""test_front.py - the stack scripts/up starts (nginx front + pi-gateway + redis-server) against
hostile clients, heavy load, crashes of each piece, TLS, and malformed requests.

Usage: test_front.py --top SRC --bin BUILD/bin CASE...
       (CASE: slow load restart tls errors)
Each case starts its own stack with the real scripts/up in a temp folder (PICLUSTER_BIN=BIN)
and stops it with scripts/down; every process is stopped by PID. Loopback only: hostile
connections come from 127.0.0.2, probes from 127.0.0.1. The gateway checks API keys (its
default): clients send the key `default` that scripts/up made (STATE/api.key). Run with
/usr/bin/python3 (stdlib only).
"""
import argparse
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import resource
import select
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import compute_env, processes_with_arg, wait_until  # noqa: E402

TOP = None
BIN = None


# --- the stack, through scripts/up and scripts/down ----------------------------------------------

class UpStack:
    """A state folder for scripts/up; on exit the stack in it is stopped, the folder removed."""

    def __init__(self, **settings):
        self.dir = tempfile.mkdtemp(prefix="picluster-front-")
        env = compute_env({k: v for k, v in os.environ.items() if not k.startswith("PICLUSTER_")})
        env["PICLUSTER_BIN"] = BIN
        env.update({"PICLUSTER_" + k.upper(): str(v) for k, v in settings.items()})
        self.env = env

    def run(self, script, *args, check=True, timeout=120):
        p = subprocess.run([os.path.join(TOP, "scripts", script)] + list(args) + [self.dir],
                           env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("scripts/%s %s failed (%d):\n%s%s\n%s"
                                 % (script, " ".join(args), p.returncode, p.stdout, p.stderr,
                                    self.logs()))
        return p

    def up(self, *args, **kw):
        return self.run("up", *args, **kw)

    def down(self, *args, **kw):
        return self.run("down", *args, **kw)

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read().strip()

    def pid(self, name):
        """The PID in STATE/<name>.pid, or None."""
        try:
            return int(self.read(name + ".pid"))
        except (OSError, ValueError):
            return None

    def pids(self):
        return {n: self.pid(n) for n in ("front", "gateway", "redis")}

    def record(self):
        """STATE/stack as a dict (r_front_port=..., r_gw_port=...)."""
        out = {}
        for line in self.read("stack").splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    @property
    def url(self):
        return self.read("url")

    @property
    def gateway_url(self):
        return self.read("gateway.url")

    @property
    def api_key(self):
        """The secret of the key `default` scripts/up made (STATE/api.key)."""
        return self.read("api.key")

    def client(self, **kw):
        """A client of the public URL that sends the stack's key `default`."""
        cacert = os.path.join(self.dir, "front", "tls", "cert.pem")
        kw.setdefault("key", self.api_key)
        return Client(self.url, cacert=cacert if self.url.startswith("https") else None, **kw)

    def logs(self):
        out = []
        for name in ("gateway.log", "front/error.log", "front/nginx.out", "redis/redis.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    tail = f.read()[-4000:].decode(errors="replace")
                out.append("---- %s ----\n%s" % (name, tail))
            except OSError:
                pass
        return "\n".join(out)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.run("down", "--stop-computes", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        # Safety net: whatever scripts/down left (it should leave nothing), by PID.
        leftovers = processes_with_arg(self.dir)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if exc[0] is not None:
            print(self.logs())
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, TypeError):
        return False


# --- a small HTTP(S) client ----------------------------------------------------------------------

class Client:
    """HTTP or HTTPS to one URL; optionally from a given loopback source address; with key,
    every request carries Authorization: Bearer <key> (unless headers has one)."""

    def __init__(self, url, cacert=None, source=None, timeout=30, key=None):
        m = re.match(r"^(https?)://([0-9.]+):([0-9]+)$", url)
        assert m, url
        self.scheme, self.host, self.port = m.group(1), m.group(2), int(m.group(3))
        self.source = (source, 0) if source else None
        self.timeout = timeout
        self.key = key
        self.ctx = ssl.create_default_context(cafile=cacert) if self.scheme == "https" else None

    def connect(self):
        if self.ctx:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               source_address=self.source, context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                          source_address=self.source)

    def request(self, method, path, body=None, headers=None, conn=None):
        """(status, headers with lower-case names, body bytes)."""
        own = conn is None
        c = conn or self.connect()
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            if self.key and not any(k.lower() == "authorization" for k in h):
                h["Authorization"] = "Bearer " + self.key
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def json(self, method, path, body=None, headers=None, conn=None):
        st, hdr, data = self.request(method, path, body, headers, conn)
        try:
            return st, hdr, json.loads(data) if data else None
        except ValueError:
            raise AssertionError("%s %s -> %d, not JSON: %r" % (method, path, st, data[:300]))

    def job(self, job_id):
        st, _, doc = self.json("GET", "/job/" + job_id)
        assert st == 200, (st, doc)
        return doc

    def wait_state(self, job_id, states, timeout=300):
        return wait_until(lambda: (lambda j: j["state"] in states and j)(self.job(job_id)),
                          timeout, "job %s to reach %s" % (job_id, sorted(states)), interval=0.2)


def expect_json_error(resp, status, code=None, what=""):
    st, hdr, body = resp
    assert st == status, "%s: expected %d, got %d %r" % (what, status, st, body[:300])
    assert hdr.get("content-type", "").startswith("application/json"), (what, hdr)
    doc = json.loads(body)
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message"}, (what, doc)
    assert doc["error"]["code"] and doc["error"]["message"], (what, doc)
    if code:
        assert doc["error"]["code"] == code, (what, doc)
    return hdr, doc


def raw_exchange(port, data, source="127.0.0.1", wait=3.0):
    """Sends raw bytes; returns (what came back until close or `wait` s of silence, how it
    ended: "closed", "reset" or "open")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait, source_address=(source, 0))
    out = b""
    how = "closed"
    try:
        s.sendall(data)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        how = "open"
    except ConnectionResetError:
        how = "reset"
    finally:
        s.close()
    return out, how


def parse_raw_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdr[k.strip().lower()] = v.strip()
    return status, hdr, body


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 16384) if hard != resource.RLIM_INFINITY else 16384
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- hostile clients -----------------------------------------------------------------------

def hold_hostile(port, idle, slow, stop, stats, source="127.0.0.2", ready=None):
    """Holds `idle` connections that send nothing and `slow` slowloris connections (a request
    line, then one header byte every 2 s) against 127.0.0.1:port from `source`; whatever the
    server closes is opened again at once. Sets `ready` (a multiprocessing event) once all are
    connected. Runs until stop is set; puts its figures in stats (a multiprocessing queue).
    Meant to run in a process of its own."""
    sel = selectors.DefaultSelector()
    socks = {}  # sock -> kind
    trickle = {}  # sock -> next time to send a byte
    counts = {"opened": 0, "closed_by_server": 0, "connect_failed": 0, "bytes_received": 0}
    samples = []

    def open_one(kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            if kind == "slow":
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        except OSError:
            counts["connect_failed"] += 1
            s.close()
            return
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks[s] = kind
        counts["opened"] += 1
        if kind == "slow":
            trickle[s] = time.monotonic() + 2

    def drop(s):
        sel.unregister(s)
        kind = socks.pop(s)
        trickle.pop(s, None)
        s.close()
        return kind

    for _ in range(idle):
        open_one("idle")
    for _ in range(slow):
        open_one("slow")
    if ready is not None:
        ready.set()
    last_sample = 0
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                d = s.recv(4096)
                counts["bytes_received"] += len(d)
            except (ConnectionResetError, OSError):
                d = b""
            # Any answer (a 408, or the close) ends this connection: open another.
            counts["closed_by_server"] += 1
            open_one(drop(s))
        now = time.monotonic()
        for s, t in list(trickle.items()):
            if t <= now:
                try:
                    s.send(b"a")
                    trickle[s] = now + 2
                except OSError:
                    open_one(drop(s))
        missing_idle = idle - sum(1 for k in socks.values() if k == "idle")
        missing_slow = slow - sum(1 for k in socks.values() if k == "slow")
        for _ in range(max(0, missing_idle)):
            open_one("idle")
        for _ in range(max(0, missing_slow)):
            open_one("slow")
        if now - last_sample >= 1:
            last_sample = now
            samples.append((sum(1 for k in socks.values() if k == "idle"),
                            sum(1 for k in socks.values() if k == "slow")))
    for s in list(socks):
        drop(s)
    counts["samples"] = samples
    stats.put(counts)


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def case_slow():
    """1,000 idle + 200 slowloris connections from 127.0.0.2 against the front; new clients from
    127.0.0.1 get GET /healthz and POST /job answered within 1 s (p99), none fails."""
    nofile = raise_nofile()
    assert nofile >= 2500, "RLIMIT_NOFILE %d is too low for 1,200 connections" % nofile
    with UpStack(scheduler="none", max_queued=10000000) as st:
        st.up()
        front_port = int(st.url.rsplit(":", 1)[1])
        cl = st.client(timeout=10)
        direct = Client(st.gateway_url, timeout=10)
        stop = multiprocessing.Event()
        ready = multiprocessing.Event()
        stats = multiprocessing.Queue()
        attacker = multiprocessing.Process(target=hold_hostile,
                                           args=(front_port, 1000, 200, stop, stats,
                                                 "127.0.0.2", ready))
        attacker.start()
        try:
            assert ready.wait(60), "the attacker did not connect within 60 s"
            times = {"GET /healthz": [], "POST /job": []}
            failures = []
            direct_ok = direct_fail = 0
            lock = threading.Lock()
            t_end = time.monotonic() + 30

            def probe(kind):
                while time.monotonic() < t_end:
                    t0 = time.monotonic()
                    try:
                        if kind == "GET /healthz":
                            s, _, doc = cl.json("GET", "/healthz")
                            ok = s == 200 and doc == {"status": "ok"}
                        else:
                            s, _, doc = cl.json("POST", "/job", {"digits": 1000})
                            ok = s == 201 and doc["state"] == "created"
                        err = None if ok else "%d %r" % (s, doc)
                    except (OSError, http.client.HTTPException, AssertionError) as e:
                        err = repr(e)
                    dt = time.monotonic() - t0
                    with lock:
                        times[kind].append(dt)
                        if err:
                            failures.append((kind, err))
                    time.sleep(max(0, 0.05 - dt))

            threads = [threading.Thread(target=probe, args=(k,)) for k in times]
            for t in threads:
                t.start()
            while time.monotonic() < t_end:
                try:
                    s, _, _ = direct.request("GET", "/healthz")
                    if s == 200:
                        direct_ok += 1
                    else:
                        direct_fail += 1
                except (OSError, http.client.HTTPException):
                    direct_fail += 1
                time.sleep(0.5)
            for t in threads:
                t.join()
        finally:
            stop.set()
            attacker.join(30)
            if attacker.is_alive():
                attacker.kill()
        counts = stats.get(timeout=10)
        samples = counts.pop("samples")
        held = [i + s for i, s in samples]
        print("hostile: %s; connections held per second: min %d, mean %.0f, max %d"
              % (counts, min(held), sum(held) / len(held), max(held)))
        for kind, v in times.items():
            print("%-13s %4d probes, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
                  % (kind, len(v), 1000 * percentile(v, 50), 1000 * percentile(v, 99),
                     1000 * max(v)))
        print("pi-gateway direct: %d answered, %d failed" % (direct_ok, direct_fail))
        assert not failures, failures[:10]
        for kind, v in times.items():
            assert len(v) >= 100, (kind, len(v))
            assert percentile(v, 99) < 1.0, "%s p99 %.3f s >= 1 s" % (kind, percentile(v, 99))
        # The attack really was held: 1,200 connections open (nginx closes each after 5 s
        # and the attacker opens it again at once).
        assert sum(held) / len(held) >= 1100, held
        assert counts["connect_failed"] == 0, counts
        assert direct_fail == 0 and direct_ok > 0, (direct_ok, direct_fail)
        s, _, _ = direct.request("GET", "/healthz")
        assert s == 200
        with open(os.path.join(st.dir, "front", "error.log")) as f:
            log = f.read()
        assert "worker_connections are not enough" not in log, log[-2000:]


# --- load ----------------------------------------------------------------------------------------

MIXED_LUA = r"""
-- A mixed load: GET /job/<id>, POST /job, GET /healthz, GET /jobs in turn on every connection,
-- each with the API key (args: the job id, the key's secret).
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  id = args[1]
  auth = "Bearer " .. args[2]
  n = 0
  posts = 0
  s200 = 0
  s201 = 0
  other = 0
  firstbad = ""
end
function request()
  n = n + 1
  local k = n % 4
  if k == 0 then
    return wrk.format("GET", "/job/" .. id, {["Authorization"] = auth})
  elseif k == 1 then
    posts = posts + 1
    return wrk.format("POST", "/job", {["Content-Type"] = "application/json",
                                       ["Authorization"] = auth}, '{"digits": 1000}')
  elseif k == 2 then
    return wrk.format("GET", "/healthz", {["Authorization"] = auth})
  else
    return wrk.format("GET", "/jobs?limit=10", {["Authorization"] = auth})
  end
end
function response(status, headers, body)
  if status == 200 then s200 = s200 + 1
  elseif status == 201 then s201 = s201 + 1
  else
    other = other + 1
    if firstbad == "" then firstbad = status .. " " .. string.sub(body, 1, 200) end
  end
end
function done(summary, latency, requests)
  local p, a, b, o, fb = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    p = p + t:get("posts"); a = a + t:get("s200"); b = b + t:get("s201"); o = o + t:get("other")
    if fb == "" then fb = t:get("firstbad") end
  end
  io.write(string.format("RESULT posts=%d s200=%d s201=%d other=%d " ..
    "connect=%d read=%d write=%d timeout=%d status=%d\n", p, a, b, o, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
  io.write("FIRSTBAD " .. fb .. "\n")
end
"""


def case_load():
    """60 s of mixed requests from 16 keep-alive connections (2 wrk threads) through the front:
    >= 1,000/s, every answer the expected 2xx, no socket error."""
    with UpStack(scheduler="none", max_queued=10000000) as st:
        st.up()
        cl = st.client()
        s, _, job = cl.json("POST", "/job", {"digits": 1000})
        assert s == 201, (s, job)
        lua = os.path.join(st.dir, "mixed.lua")
        with open(lua, "w") as f:
            f.write(MIXED_LUA)
        dur, conns = 60, 16
        p = subprocess.run(["wrk", "-t", "2", "-c", str(conns), "-d", "%ds" % dur,
                            "--timeout", "2s", "--latency", "-s", lua, st.url, "--", job["id"],
                            st.api_key],
                           capture_output=True, text=True, timeout=dur + 60)
        print(p.stdout, p.stderr)
        assert p.returncode == 0, p.returncode
        rps = float(re.search(r"^Requests/sec:\s+([0-9.]+)", p.stdout, re.M).group(1))
        res = dict(kv.split("=") for kv in
                   re.search(r"^RESULT (.*)$", p.stdout, re.M).group(1).split())
        res = {k: int(v) for k, v in res.items()}
        total = res["s200"] + res["s201"] + res["other"]
        print("mixed load through the front: %.0f requests/s, %d answers, %s" % (rps, total, res))
        assert res["other"] == 0, "non-2xx answers: %s; first %s" % (
            res, re.search(r"^FIRSTBAD (.*)$", p.stdout, re.M).group(1))
        for k in ("connect", "read", "write", "timeout", "status"):
            assert res[k] == 0, "socket errors: %s" % res
        # Every POST got its 201 (the last few may still have been in flight when wrk stopped).
        assert res["posts"] - conns <= res["s201"] <= res["posts"], res
        assert rps >= 1000, "%.0f requests/s < 1,000" % rps
        assert total >= 1000 * dur, total
        # pi-gateway itself still answers on its own port.
        s, _, _ = Client(st.gateway_url).request("GET", "/healthz")
        assert s == 200


# --- restarts ------------------------------------------------------------------------------------

def job_processes(jid):
    """(mpirun and pi-compute ranks of the job, the ranks alone): live PIDs."""
    every = [p for p in processes_with_arg(jid, "--job-id") if alive(p)]
    ranks = []
    for p in every:
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if os.path.basename(argv0) == b"pi-compute":
            ranks.append(p)
    return every, ranks


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def case_restart():
    """kill -9 pi-gateway, then redis-server, then nginx with a job running: scripts/up DIR starts
    only the dead piece, on the same ports with the same instance; the job finishes. Then
    scripts/down (computes kept) and up: the compute outlives the stack and its job finishes.
    The job's ranks are paused (SIGSTOP) while the pieces die and come back, so that a small
    job is certainly in flight throughout, however fast or busy the machine is."""
    digits = 3000000
    with UpStack(scheduler="local") as st:
        st.up()
        url, gw_url, instance = st.url, st.gateway_url, st.read("instance")
        record = st.record()
        assert re.match(r"^up-[0-9a-f]{12}$", instance), instance
        assert url == "http://127.0.0.1:%s" % record["r_front_port"], (url, record)
        assert gw_url == "http://127.0.0.1:%s" % record["r_gw_port"], (gw_url, record)
        assert record["r_front_port"] != record["r_gw_port"]
        cl = st.client()
        s, hdr, job = cl.json("POST", "/job", {"digits": digits})
        assert s == 201, (s, job)
        jid = job["id"]
        cl.wait_state(jid, {"running"}, timeout=60)
        procs, ranks = wait_until(lambda: (lambda pr: len(pr[1]) == 2 and pr)(job_processes(jid)),
                                  30, "the 2 ranks of job %s" % jid)
        signal_all(ranks, signal.SIGSTOP)

        # A running stack: up changes nothing and says where it is.
        before = st.pids()
        p = st.up()
        assert url in p.stdout and st.pids() == before, (p.stdout, st.pids(), before)

        for piece in ("gateway", "redis", "front"):
            before = st.pids()
            assert cl.job(jid)["state"] == "running", "the job must be in flight: %s" % cl.job(jid)
            os.kill(before[piece], signal.SIGKILL)
            wait_until(lambda: not alive(before[piece]), 10, "%s to die" % piece)
            if piece == "gateway":
                # The front answers for a gateway that is gone, in the gateway's JSON shape.
                expect_json_error(cl.request("GET", "/healthz"), 502, "gateway_unavailable",
                                  "front without gateway")
            t0 = time.monotonic()
            p = st.up()
            after = st.pids()
            print("kill -9 %s (pid %d); scripts/up took %.1f s: %s"
                  % (piece, before[piece], time.monotonic() - t0, p.stdout.strip()))
            for other in before:
                if other == piece:
                    assert after[other] != before[other] and alive(after[other]), (piece, after)
                else:
                    assert after[other] == before[other], "%s restarted when %s died: %s %s" % (
                        other, piece, before, after)
            assert (st.url, st.gateway_url, st.read("instance")) == (url, gw_url, instance)
            assert st.record() == record
            if piece == "front":
                # The dead master's workers are gone too (they held the old listening socket).
                left = [q for q in processes_with_arg("nginx: worker process")
                        if alive(q) and os.getpgid(q) == before["front"]]
                assert not left, "workers of the killed master still run: %s" % left
            s, _, doc = cl.json("GET", "/job/" + jid)
            assert s == 200 and doc["state"] in ("running", "finished"), (s, doc)
        assert all(alive(r) for r in procs), "the compute must have outlived the restarts"

        # scripts/down keeps computes by default; up again (nothing ran: a fresh start on the
        # recorded ports, the same instance) and the job still finishes.
        assert cl.job(jid)["state"] == "running", cl.job(jid)
        p = st.down()
        print(p.stdout.strip())
        assert "left" in p.stdout and "running" in p.stdout, p.stdout
        assert all(alive(r) for r in procs), "scripts/down --keep-computes stopped the compute"
        assert not any(alive(x) for x in before.values() if x)
        p = st.up()
        assert (st.url, st.gateway_url, st.read("instance")) == (url, gw_url, instance), p.stdout
        assert cl.job(jid)["state"] == "running", cl.job(jid)
        signal_all(ranks, signal.SIGCONT)
        done = cl.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=600)
        assert done["state"] == "finished", done
        s, hdr, body = cl.request("GET", "/job/download/" + jid)
        assert s == 200 and len(body) == digits + 3, (s, len(body))
        assert hashlib.sha256(body).hexdigest() == done["result"]["sha256"]
        ref = subprocess.run([os.path.join(BIN, "pi-reference"), "--digits", "2000"],
                             check=True, capture_output=True).stdout
        assert body[:2002] == ref[:2002]

        # --stop-computes ends them (a job large enough to be running still).
        s, _, job2 = cl.json("POST", "/job", {"digits": 20000000})
        cl.wait_state(job2["id"], {"running"}, timeout=60)
        procs2 = job_processes(job2["id"])[0]
        assert procs2
        st.down("--stop-computes")
        wait_until(lambda: not any(alive(r) for r in procs2), 15, "--stop-computes to end job 2")
        assert not processes_with_arg(st.dir), processes_with_arg(st.dir)


# --- TLS -----------------------------------------------------------------------------------------

def curl(*args, key=None):
    """curl -sS ARGS; with key, -H "Authorization: Bearer <key>"."""
    auth = ["-H", "Authorization: Bearer " + key] if key else []
    p = subprocess.run(["curl", "-sS", "--max-time", "30"] + auth + list(args),
                       capture_output=True, timeout=60)
    return p


def case_tls():
    """scripts/up --tls: HTTPS with a self-signed certificate; curl --cacert posts, polls and
    downloads; Range gives 206 through the front; plain HTTP on that port gets a JSON 400."""
    digits = 200000
    with UpStack(scheduler="local") as st:
        p = st.up("--tls")
        url = st.url
        cacert = os.path.join(st.dir, "front", "tls", "cert.pem")
        assert url.startswith("https://127.0.0.1:"), url
        assert cacert in p.stdout, p.stdout
        assert "--tls" not in st.read("env") and cacert in st.read("env")
        key = st.api_key
        r = curl("--cacert", cacert, "-X", "POST", url + "/job", "-H",
                 "Content-Type: application/json", "-d", '{"digits": %d}' % digits,
                 "-w", "\n%{http_code}", key=key)
        body, _, code = r.stdout.decode().rpartition("\n")
        assert code == "201", (code, body, r.stderr)
        jid = json.loads(body)["id"]
        deadline = time.monotonic() + 120
        while True:
            r = curl("--fail", "--cacert", cacert, url + "/job/" + jid, key=key)
            assert r.returncode == 0, r.stderr
            job = json.loads(r.stdout)
            if job["state"] in ("finished", "errored", "cancelled"):
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["state"] == "finished", job
        out = os.path.join(st.dir, "pi.txt")
        r = curl("--fail", "--cacert", cacert, "-o", out, url + "/job/download/" + jid,
                 key=key)
        assert r.returncode == 0, r.stderr
        ref = subprocess.run([os.path.join(BIN, "pi-reference"), "--digits", str(digits)],
                             check=True, capture_output=True).stdout
        with open(out, "rb") as f:
            got = f.read()
        assert got == ref, (len(got), len(ref))
        # Range through the front: pi-gateway's 206 comes back unchanged.
        r = curl("--fail", "--cacert", cacert, "-r", "2-11", "-D", "-",
                 url + "/job/download/" + jid, key=key)
        text = r.stdout.decode()
        assert re.search(r"^HTTP/1.1 206", text, re.M), text
        assert re.search(r"^Content-Range: bytes 2-11/%d" % len(ref), text, re.M | re.I), text
        assert text.endswith(ref[2:12].decode()), text
        # Without the certificate, curl refuses the self-signed one.
        assert curl(url + "/healthz").returncode != 0
        # Plain HTTP to the HTTPS port: nginx's own 400, as JSON.
        port = int(url.rsplit(":", 1)[1])
        raw, _ = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        expect_json_error(parse_raw_response(raw), 400, "https_required", "plain HTTP")


# --- nginx's own errors, and pi-gateway's answers passed through ---------------------------------

def case_errors():
    with UpStack(scheduler="none", max_queued=1) as st:
        st.up()
        cl = st.client()
        port = int(st.url.rsplit(":", 1)[1])
        # The two timeouts run in the background: each takes a few seconds.
        results = {}

        def header_timeout():
            t0 = time.monotonic()
            raw, how = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b",
                                    wait=15)
            results["header"] = (time.monotonic() - t0, raw, how)

        def body_timeout():
            t0 = time.monotonic()
            raw, how = raw_exchange(port, b"POST /job HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                                    b"\r\n{\"digits\":", wait=15)
            results["body"] = (time.monotonic() - t0, raw, how)

        bg = [threading.Thread(target=header_timeout), threading.Thread(target=body_timeout)]
        for t in bg:
            t.start()

        # nginx's own refusals, in pi-gateway's error shape.
        expect_json_error(cl.request("POST", "/job", b"{" + b" " * 20000 + b"}",
                                     {"Content-Type": "application/json"}),
                          413, "body_too_large", "oversized body")
        expect_json_error(cl.request("GET", "/healthz", headers={"X-Big": "b" * 10000}),
                          431, "header_too_large", "oversized header")
        expect_json_error(cl.request("GET", "/job/" + "c" * 10000), 414, "uri_too_long",
                          "long request line")
        raw, _ = raw_exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
        expect_json_error(parse_raw_response(raw), 400, "bad_request", "garbage")
        raw, _ = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        expect_json_error(parse_raw_response(raw), 400, None, "two Host headers")
        expect_json_error(cl.request("TRACE", "/healthz"), 405, None, "TRACE")
        raw, _ = raw_exchange(port, b"POST /job HTTP/1.1\r\nHost: a\r\n"
                                    b"Transfer-Encoding: gzip\r\n\r\n")
        expect_json_error(parse_raw_response(raw), 501, "not_implemented", "gzip coding")
        raw, _ = raw_exchange(port, b"GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n")
        expect_json_error(parse_raw_response(raw), 505, "http_version_not_supported", "HTTP/2.0")
        raw, _ = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n"
                                    b"Content-Length : 1\r\n\r\na")
        expect_json_error(parse_raw_response(raw), 400, "bad_request", "space before colon")
        expect_json_error(cl.request("GET", "/_front_error/502"), 404, "not_found", "internal page")

        # pi-gateway's answers pass unchanged: JSON errors, Allow, Location, Retry-After.
        hdr, _ = expect_json_error(cl.request("GET", "/nope"), 404, "not_found", "unknown path")
        hdr, _ = expect_json_error(cl.request("DELETE", "/healthz"), 405, "method_not_allowed",
                                   "DELETE /healthz")
        assert "GET" in hdr.get("allow", ""), hdr
        expect_json_error(cl.request("GET", "/job/NOT-AN-ID"), 400, "invalid_job_id", "bad id")
        s, hdr, job = cl.json("POST", "/job", {"digits": 1000})
        assert s == 201 and hdr["location"] == "/job/" + job["id"], (s, hdr)
        hdr, _ = expect_json_error(cl.request("POST", "/job", {"digits": 1000}), 429,
                                   "queue_full", "queue full")
        assert hdr.get("retry-after"), hdr
        expect_json_error(cl.request("POST", "/job", b"{", {"Content-Type": "application/json"}),
                          400, None, "bad JSON")
        # The gateway's log names the client as the front saw it (127.0.0.2 here), not what the
        # client claimed in X-Forwarded-For: nginx replaces the header, pi-gateway trusts it
        # from 127.0.0.1 only (--trusted-proxy).
        probe_id = "00000000-0000-4000-8000-00000000f00d"
        other = st.client(source="127.0.0.2")
        s, _, _ = other.request("GET", "/job/" + probe_id,
                                headers={"X-Forwarded-For": "6.6.6.6, 7.7.7.7"})
        assert s == 404, s

        def logged():
            with open(os.path.join(st.dir, "gateway.log")) as f:
                return [ln for ln in f if probe_id in ln]
        lines = wait_until(logged, 5, "the gateway's log line for " + probe_id)
        assert "127.0.0.2" in lines[-1], lines
        assert "6.6.6.6" not in lines[-1] and "7.7.7.7" not in lines[-1], lines

        # Per-address limits: requests whose header is read count until they end, so requests
        # waiting for a body that never comes hold their place (for client_body_timeout, 5 s).
        def hold_one(source, path):
            c = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
            c.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: a\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            return c

        def hold(source, path, n):
            return [hold_one(source, path) for _ in range(n)]

        def refill(socks, source, path):
            """A probe may reach nginx before the last holds do and take a place; the hold
            then refused (it got an answer) is replaced, so that n places stay held."""
            ready, _, _ = select.select(socks, [], [], 0)
            for c in ready:
                socks.remove(c)
                c.close()
                socks.append(hold_one(source, path))

        def refused(client, path, socks, source, hold_path):
            refill(socks, source, hold_path)
            st_, hdr_, body_ = client.request("GET", path)
            return st_ == 429 and (st_, hdr_, body_)

        held = hold("127.0.0.2", b"/job", 64)
        try:
            resp = wait_until(lambda: refused(st.client(source="127.0.0.2"), "/healthz", held,
                                              "127.0.0.2", b"/job"), 10,
                              "the 65th request from 127.0.0.2 to be refused")
            hdr, _ = expect_json_error(resp, 429, "too_many_connections", "65th request")
            assert hdr.get("retry-after") == "1", hdr
            s, _, _ = cl.request("GET", "/healthz")  # another address is not affected
            assert s == 200, s
        finally:
            for c in held:
                c.close()
        wait_until(lambda: st.client(source="127.0.0.2").request("GET", "/healthz")[0] == 200,
                   5, "127.0.0.2 to be served again")
        # Downloads: 8 per address.
        dl = "/job/download/" + job["id"]
        held = hold("127.0.0.3", dl.encode(), 8)
        try:
            resp = wait_until(lambda: refused(st.client(source="127.0.0.3"), dl, held,
                                              "127.0.0.3", dl.encode()), 10,
                              "the 9th download from 127.0.0.3 to be refused")
            expect_json_error(resp, 429, "too_many_connections", "9th download")
            s, _, _ = st.client(source="127.0.0.3").request("GET", "/healthz")
            assert s == 200, s
        finally:
            for c in held:
                c.close()

        for t in bg:
            t.join(30)
        for name, (dt, raw, how) in results.items():
            print("%s timeout: %s after %.1f s, %r" % (name, how, dt, raw[:120]))
            # client_header_timeout / client_body_timeout are 5 s: the connection is closed
            # (with a JSON 408, or reset) well before the client's own 15 s.
            assert how in ("closed", "reset") and dt < 9, (name, how, dt)
            if raw:
                expect_json_error(parse_raw_response(raw), 408, "request_timeout", name)


CASES = {"slow": case_slow, "load": case_load, "restart": case_restart, "tls": case_tls,
         "errors": case_errors}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="+", choices=sorted(CASES))
    a = ap.parse_args()
    TOP = os.path.abspath(a.top)
    BIN = os.path.abspath(a.bin)
    for name in a.cases:
        t0 = time.monotonic()
        CASES[name]()
        print("%s: ok (%.1fs)" % (name, time.monotonic() - t0))
