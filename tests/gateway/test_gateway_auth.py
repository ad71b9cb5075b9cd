"""test_gateway_auth.py - pi-gateway and pi-compute against a Redis with requirepass.

Usage: test_gateway_auth.py --bin BUILD/bin CASE...
       (CASE: url file wrong)
  url    the password in --redis: a job finishes; the running computes' command lines, every
         process's `ps` line but the gateway's own, the gateway's and the job's logs and the
         job's JSON never hold it
  file   the same with --redis-password-file: no process's command line holds it at all
  wrong  a wrong password (PICLUSTER_REDIS_PASSWORD) stops pi-gateway at once with a message
         that names the refusal and not the password
Each case starts its own redis-server and pi-gateway on free loopback ports and stops every
process it started. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import (DEFAULT_KEY, Gateway, compute_env, processes_with_arg,  # noqa: E402
                     wait_until)
from redis import RedisServer  # noqa: E402

BIN = None
PASSWORD = "Gw s3cret@7f3a:/x"
ENCODED = urllib.parse.quote(PASSWORD, safe="")
DIGITS = 3000000  # long enough (a few seconds on 2 ranks) to look at the running computes


def assert_no_password(text, what):
    for p in (PASSWORD, ENCODED):
        assert p not in text, "%s holds the password:\n%s" % (what, text[-3000:])


def ps_lines():
    return subprocess.run(["ps", "-ww", "-eo", "pid=,args="], check=True, capture_output=True,
                          text=True).stdout.splitlines()


def environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


class Setup:
    """A temp dir, a requirepass redis-server, a file store; a gateway made by start()."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="picluster-auth-")
        self.redis = RedisServer(password=PASSWORD, dir=os.path.join(self.dir, "redis"))
        self.redis.start()
        self.store_dir = os.path.join(self.dir, "objects")
        self.state_dir = os.path.join(self.dir, "state")
        os.makedirs(self.store_dir)
        os.makedirs(self.state_dir)
        self.store_url = "file://" + self.store_dir
        self.gw = None
        return self

    def start(self, redis_url, args=(), env=None, wait=True, key=DEFAULT_KEY):
        """key: DEFAULT_KEY has `pi-gateway key create` make an admin key first, through the
        same URL, flags and environment (so with the same password); None makes none."""
        e = compute_env()
        e.pop("PICLUSTER_REDIS_PASSWORD", None)
        e.update(env or {})
        self.gw = Gateway(BIN, redis_url, self.store_url, self.state_dir, "local",
                          ["--ranks", "2"] + list(args), env=e, key=key)
        return self.gw.start(wait=wait)

    def __exit__(self, *exc):
        if self.gw:
            try:
                self.gw.stop()
            except AssertionError:
                pass
            if exc[0] is not None:
                print("---- gateway log ----\n%s" % self.gw.log())
        for pid in processes_with_arg(self.store_url, "--job-id"):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        self.redis.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def run_job(s, gateway_argv_has_password):
    """One job through the API; checks ps, /proc, logs and JSON while and after it runs."""
    g = s.gw
    st, _, job = g.json("POST", "/job", {"digits": DIGITS})
    assert st == 201, (st, job)
    job_id = job["id"]
    g.wait_state(job_id, {"running", "finished"}, timeout=60)

    # The running computes: mpirun and both ranks of pi-compute carry the job id.
    computes = processes_with_arg(job_id, "--redis")
    assert computes, "no running compute of job %s to look at (too fast?)" % job_id
    saw_env = False
    for pid in computes:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        assert_no_password(cmd, "command line of compute process %d" % pid)
        env = environ_of(pid)
        if env and ("PICLUSTER_REDIS_PASSWORD=" + PASSWORD).encode() in env:
            saw_env = True
    assert saw_env, "no compute process of %s got PICLUSTER_REDIS_PASSWORD" % job_id
    for line in ps_lines():
        if str(g.proc.pid) == line.split(None, 1)[0] and gateway_argv_has_password:
            # The operator put it into the gateway's own argv: proof that ps shows it.
            assert ENCODED in line, line
            continue
        assert_no_password(line, "ps line")

    done = g.wait_state(job_id, {"finished", "errored", "cancelled"}, timeout=120)
    assert done["state"] == "finished", done
    for path in ("/job/" + job_id, "/jobs", "/healthz", "/metrics"):
        st, _, body = g.request("GET", path)
        assert st == 200, (path, st, body[:300])
        assert_no_password(body.decode(errors="replace"), "GET " + path)
    st, _, body = g.request("GET", "/job/download/" + job_id)
    assert st == 200 and body.startswith(b"3.14159") and len(body) == DIGITS + 3
    assert_no_password(g.log(tail=None), "the gateway's log")
    assert "(with a password)" in g.log(tail=None)
    logs = [os.path.join(d, n) for d, _, names in os.walk(s.state_dir) for n in names]
    assert any(job_id in p for p in logs), logs  # the job's own log is among them
    for path in logs:
        with open(path, "rb") as f:
            assert_no_password(f.read().decode(errors="replace"), path)


def case_url():
    with Setup() as s:
        s.start("redis://:%s@127.0.0.1:%d/0" % (ENCODED, s.redis.port))
        run_job(s, gateway_argv_has_password=True)
        print("url: ok")


def case_file():
    with Setup() as s:
        path = os.path.join(s.dir, "redis-password")
        with open(path, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(path, 0o600)
        s.start(s.redis.url, ["--redis-password-file", path])
        run_job(s, gateway_argv_has_password=False)
        print("file: ok")


def case_wrong():
    with Setup() as s:
        t0 = time.monotonic()
        # No API key: with a refused password none can be made, and this gateway must stop
        # before it serves anything.
        g = s.start(s.redis.url, env={"PICLUSTER_REDIS_PASSWORD": "wrong-" + PASSWORD},
                    wait=False, key=None)
        rc = g.proc.wait(timeout=30)
        g.proc = None
        assert rc == 1, rc
        assert time.monotonic() - t0 < 10, "a refused password was waited on"
        log = g.log(tail=None)
        assert "refused the password" in log, log
        assert_no_password(log, "the gateway's log")
        # No password at all: Redis wants one.
        g = s.start(s.redis.url, wait=False, key=None)
        rc = g.proc.wait(timeout=30)
        g.proc = None
        assert rc == 1, rc
        assert "wants a password" in g.log(tail=None), g.log()
        print("wrong: ok")


CASES = {"url": case_url, "file": case_file, "wrong": case_wrong}


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="*", default=list(CASES))
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    for c in a.cases:
        CASES[c]()


if __name__ == "__main__":
    main()
