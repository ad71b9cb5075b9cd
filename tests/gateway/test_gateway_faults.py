#!/usr/bin/python3
"""test_gateway_faults.py - pi-gateway (local scheduler) under injected faults.

    test_gateway_faults.py --bin BUILD/bin CASE

CASE is one of:
  takeloss  the reply of the submitter's take (its queue script) is lost (a relay between the gateway and Redis
            drops it and closes the connection) after Redis moved the id into the gateway's
            processing list: the submitter recovers its list once Redis answers again and
            the job finishes
  partial   a compute killed with kill -9 while its result is open in the file store, and a
            running job cancelled with DELETE: both leave no temporary file in the store
  orphan    ids in the processing list of a gateway that is gone for good (no live instance
            claim) are queued again by another gateway and finish; a live owner's are kept
  restart   a gateway killed with kill -9 and started again under the same --instance on
            another port takes over its dead predecessor's claim at once and finishes the job
            left in its processing list; a second live gateway with that name submits nothing
  resubmit  a compute killed before it reported running (the job still queued) is submitted
            again and the job finishes exactly; a job whose every start is killed ends errored
            after two more submissions, naming the signal; one whose compute exits 3 is not
            submitted again

Each case starts its own redis-server and pi-gateway on free loopback ports
(tests/support/gateway.py) and stops them by PID. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, processes_with_arg, wait_until  # noqa: E402

BIN = None
HERE = os.path.dirname(os.path.abspath(__file__))


def reference(digits):
    return subprocess.run([os.path.join(BIN, "pi-reference"), "--digits", str(digits)],
                          check=True, stdout=subprocess.PIPE, timeout=120).stdout


class DroppingRelay:
    """A TCP relay on 127.0.0.1 to Redis. Once armed, the first reply carrying an id to a take
    (a script call naming a processing list) is not passed on: both sides of that connection
    are closed instead (a lost reply)."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            state = {"take": False}
            threading.Thread(target=self._pump_up, args=(client, server, state),
                             daemon=True).start()
            threading.Thread(target=self._pump_down, args=(server, client, state),
                             daemon=True).start()

    def _pump_up(self, client, server, state):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                # The take script and recovery name processing:<instance>; only a take
                # answers with a bulk string (recovery answers a count, ack is no script).
                state["take"] = b"EVAL" in data and b"processing:" in data
                server.sendall(data)
        except OSError:
            pass
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pump_down(self, server, client, state):
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                # A take that moved an id answers with a bulk string ("$36\r\n<id>\r\n"); one
                # that found nothing answers nil ("$-1" or "*-1").
                if (state["take"] and self.armed.is_set() and data.startswith(b"$")
                        and not data.startswith(b"$-")):
                    self.armed.clear()
                    self.dropped.set()
                    break
                client.sendall(data)
        except OSError:
            pass
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closing = True
        self.lsock.close()


def case_takeloss():
    with Stack(BIN, scheduler="none") as s:
        relay = DroppingRelay(s.redis.port)
        try:
            # The submitting gateway reaches Redis through the relay; jobs are posted to the
            # API-only one, so the relay sees the submitter's take answered with the id.
            g = s.new_gateway(scheduler="local", args=["--ranks", "1", "--instance", "gw-lost"],
                              start=False)
            g.redis_url = relay.url
            g.start()
            wait_until(lambda: "submitter gw-lost: ready" in g.log(), 30, "the submitter")
            relay.armed.set()
            jid = s.gw.submit(2000)
            wait_until(relay.dropped.is_set, 30, "the take's reply to be dropped")
            job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=60)
            assert job["state"] == "finished", job
            st, _, body = s.gw.request("GET", "/job/download/" + jid)
            assert st == 200 and body == reference(2000), (st, body[:100])
            assert "queue take failed" in g.log(tail=None), g.log()
        finally:
            relay.close()
    print("takeloss: the id moved by a take whose reply was lost was recovered; job finished")


def temp_files(store_dir, jid):
    d = os.path.join(store_dir, "jobs", jid)
    try:
        return [n for n in os.listdir(d) if ".~tmp." in n]
    except FileNotFoundError:
        return []


def compute_ranks(jid):
    return [p for p in processes_with_arg(jid, "pi-compute")
            if b"mpirun" not in open("/proc/%d/cmdline" % p, "rb").read()]


def case_partial():
    with Stack(BIN, scheduler="local", args=["--ranks", "2", "--max-running", "2"]) as s:
        g = s.gw
        # A compute opens its result in the store when it starts running; 30,000,000 digits
        # keep it running long after that.
        victim = g.submit(30000000)
        g.wait_state(victim, {"running"})
        wait_until(lambda: temp_files(s.store_dir, victim), 60, "the result's temporary file")
        pids = wait_until(lambda: compute_ranks(victim), 30, "pi-compute ranks")
        for p in pids:
            os.kill(p, signal.SIGKILL)
        job = g.wait_state(victim, {"errored", "finished"}, timeout=60)
        assert job["state"] == "errored", job
        wait_until(lambda: not processes_with_arg(victim), 30, "mpirun to go")
        wait_until(lambda: not temp_files(s.store_dir, victim), 30,
                   "the temporary file of %s to be removed" % victim)

        # DELETE of a running job: every rank ended, then its temporary file removed.
        running = g.submit(30000000)
        g.wait_state(running, {"running"})
        wait_until(lambda: temp_files(s.store_dir, running), 60, "the result's temporary file")
        st, _, doc = g.json("DELETE", "/job/" + running)
        assert st == 200 and doc["state"] == "cancelled", (st, doc)
        assert not processes_with_arg(running), processes_with_arg(running)
        assert temp_files(s.store_dir, running) == [], temp_files(s.store_dir, running)
    print("partial: no temporary file left after kill -9 of a compute or a DELETE")


QUEUE = "picluster:queue"


def park(redis, jid, owner):
    """Moves jid from the submit queue (its API key's list of the fair queue) into
    processing:<owner>, as a submitter's take does."""
    key = redis.command("HGET", "picluster:job:" + jid, "owner")
    queue = QUEUE + ":" + key if key else QUEUE
    got = redis.command("LMOVE", queue, "picluster:processing:" + owner, "RIGHT", "LEFT")
    assert got == jid, (got, jid)


def finished_exactly(api, jid, digits, timeout=90):
    job = api.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=timeout)
    assert job["state"] == "finished", job
    st, _, body = api.request("GET", "/job/download/" + jid)
    assert st == 200 and body == reference(digits), (st, body[:100])


def case_orphan():
    with Stack(BIN, scheduler="none") as s:
        api = s.gw
        # A submitter "ghost" took a job and died before submitting it; an older gateway
        # never registered its name (the keeper adopts such lists from a key scan).
        ghost = api.submit(1500)
        park(s.redis, ghost, "ghost")
        # "alive" holds a live claim: its list must be left alone.
        kept = api.submit(1600)
        park(s.redis, kept, "alive")
        s.redis.command("SET", "picluster:instance:alive", "elsewhere|7:7", "PX", "600000")
        s.redis.command("SADD", "picluster:instances", "alive")
        g = s.new_gateway(scheduler="local", args=["--ranks", "1", "--instance", "gw-b"])
        finished_exactly(api, ghost, 1500)
        time.sleep(6)  # more than one orphan pass of both keepers
        assert s.redis.command("LRANGE", "picluster:processing:alive", "0", "-1") == [kept]
        assert api.job(kept)["state"] == "created"
        # Now "alive" ends without a word: its claim expires and its job runs too.
        s.redis.command("PEXPIRE", "picluster:instance:alive", "1")
        finished_exactly(api, kept, 1600)
        logs = api.log(tail=None) + g.log(tail=None)
        assert "taken by gateways that have ended are queued again" in logs, logs[-3000:]
    print("orphan: a dead owner's ids were queued again and finished; a live owner's kept")


def case_restart():
    args = ["--ranks", "1", "--instance", "gw-r"]
    with Stack(BIN, scheduler="local", args=args) as s:
        g = s.gw
        wait_until(lambda: "submitter gw-r: ready" in g.log(), 30, "the submitter")
        api = s.new_gateway(scheduler="none", args=[])
        g.kill()
        # The id it had just taken when it died.
        jid = api.submit(1700)
        park(s.redis, jid, "gw-r")
        g2 = s.new_gateway(args=args)
        wait_until(lambda: "submitter gw-r: ready" in g2.log(), 30, "the new submitter")
        assert "has ended; taking over" in g2.log(tail=None), g2.log()
        # At once: the dead holder's claim is replaced, not waited out (its TTL is 5 s).
        assert "a live gateway" not in g2.log(tail=None), g2.log()
        finished_exactly(api, jid, 1700)
        # A second live gateway under the same name waits, and submits nothing.
        g3 = s.new_gateway(args=args)
        wait_until(lambda: "a live gateway" in g3.log(), 15, "the duplicate's warning")
        for digits in (1800, 1900):
            finished_exactly(api, api.submit(digits), digits)
        assert "submitted to local" not in g3.log(tail=None), g3.log()
        assert "ready" not in g3.log(tail=None).split("a live gateway")[-1], g3.log()
    print("restart: same instance on a new port took over at once and finished the job")


def case_resubmit():
    # pi-gateway runs the pi-compute beside it: a copy of it beside a stand-in that fails the
    # start of chosen jobs (tests/gateway/start_fault_compute.sh; by digit count).
    tmp = tempfile.mkdtemp(prefix="picluster-resubmit-")
    try:
        bin_dir = os.path.join(tmp, "bin")
        markers = os.path.join(tmp, "markers")
        os.makedirs(bin_dir)
        os.makedirs(markers)
        shutil.copy2(os.path.join(BIN, "pi-gateway"), bin_dir)
        shutil.copy2(os.path.join(HERE, "start_fault_compute.sh"),
                     os.path.join(bin_dir, "pi-compute"))
        env = dict(os.environ, PICLUSTER_TEST_MARKERS=markers,
                   PICLUSTER_TEST_REAL_COMPUTE=os.path.join(BIN, "pi-compute"))
        # --pool-workers 0: the stand-in pi-compute fakes job mode's starts, not a worker.
        with Stack(bin_dir, scheduler="local", args=["--ranks", "1", "--pool-workers", "0"],
                   env=env) as s:
            g = s.gw
            jid = g.submit(1234)
            marker = os.path.join(markers, jid)
            wait_until(lambda: os.path.exists(marker), 60, "the first start of " + jid)
            assert g.job(jid)["state"] == "queued", g.job(jid)
            for pid in processes_with_arg(jid, "mpirun"):
                os.kill(pid, signal.SIGKILL)
            finished_exactly(g, jid, 1234)
            assert "submitted again (1 of 2)" in g.log(tail=None), g.log()

            doomed = g.submit(4242)
            job = g.wait_state(doomed, {"finished", "errored", "cancelled"}, timeout=60)
            assert job["state"] == "errored", job
            assert job["error"]["code"] == "compute_lost", job
            msg = job["error"]["message"]
            assert "signal 9" in msg and "never started" in msg, msg
            assert "submitted again (2 of 2)" in g.log(tail=None), g.log()

            # An exit code would only come again: errored at once, never resubmitted.
            failing = g.submit(4343)
            job = g.wait_state(failing, {"finished", "errored", "cancelled"}, timeout=60)
            assert job["state"] == "errored", job
            msg = job["error"]["message"]
            assert "code 3" in msg and "never started" not in msg, msg
            resubmitted = [line for line in g.log(tail=None).splitlines()
                           if failing in line and "submitted again" in line]
            assert not resubmitted, resubmitted
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("resubmit: a compute killed before it ran was started again; a doomed job errored")


CASES = {"takeloss": case_takeloss, "partial": case_partial, "orphan": case_orphan,
         "restart": case_restart, "resubmit": case_resubmit}


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    CASES[a.case]()


if __name__ == "__main__":
    main()
