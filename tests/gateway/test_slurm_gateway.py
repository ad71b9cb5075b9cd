#!/usr/bin/python3
"""test_slurm_gateway.py - pi-gateway --scheduler slurm against a real Slurm (slurm-up).

    test_slurm_gateway.py --top SRC --bin BUILD/bin CASE

CASE is one of:
  flow      POST jobs, they run through sbatch and finish with exact digits; download
  cancel    DELETE of a running job: scancel'd, cancelled, no compute process left
  timeout   --slurm-time 1 and a compute that outlives it: errored with Slurm's TIMEOUT
  refused   more tasks than the partition has: sbatch refuses, the job ends errored with
            Slurm's message
  outage    slurmctld stopped (SIGSTOP) while a job runs: nothing is decided meanwhile, and
            the job finishes once the controller answers again

Each case starts its own Slurm cluster (tests/support/slurm.py) and gateway stack
(tests/support/gateway.py) and stops them by PID.
"""
import argparse
import hashlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, processes_with_arg, wait_until  # noqa: E402
from slurm import Cluster  # noqa: E402


def reference(bin_dir, digits):
    return subprocess.run([os.path.join(bin_dir, "pi-reference"), "--digits", str(digits)],
                          check=True, stdout=subprocess.PIPE, timeout=120).stdout


def gateway_args(top, ranks, *more):
    return ["--ranks", str(ranks), "--slurm-script", os.path.join(top, "slurm", "pi.sbatch")] \
        + list(more)


def slurm_job_of(job):
    sch = job.get("scheduler") or {}
    assert sch.get("name") == "slurm" and str(sch.get("job_id", "")).isdigit(), job
    return str(sch["job_id"])


def case_flow(top, bin_dir, c, env):
    with Stack(bin_dir, scheduler="slurm", args=gateway_args(top, 2), env=env) as s:
        wanted = {}
        for digits in (1000, 30000, 5):
            wanted[s.gw.submit(digits)] = digits
        for jid, digits in wanted.items():
            job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=180)
            assert job["state"] == "finished", job
            sid = slurm_job_of(job)
            # Slurm knows it by the name that carries the job id, and it ran 2 tasks.
            rec = c.run(["sacct", "-c", "-n", "-P", "-j", sid, "-o", "JobName,NCPUS"])
            line = rec.stdout.strip().splitlines()[-1] if rec.stdout.strip() else ""
            if not line:  # jobcomp is written when the job completes: may lag a moment
                line = c.run(["squeue", "-h", "-t", "all", "-j", sid, "-o", "%j|%C"]).stdout.strip()
            assert line == "picluster-%s|2" % jid, line
            st, hdr, body = s.gw.request("GET", "/job/download/" + jid)
            assert st == 200, (st, body[:200])
            assert body == reference(bin_dir, digits), "digits of %s differ" % jid
            assert job["result"]["sha256"] == hashlib.sha256(body).hexdigest(), job
            assert job["result"]["bytes"] == len(body), job
    print("flow: %d jobs through sbatch, exact digits" % len(wanted))


def case_cancel(top, bin_dir, c, env):
    with Stack(bin_dir, scheduler="slurm", args=gateway_args(top, 2), env=env) as s:
        jid = s.gw.submit(60000000)  # about a minute of work: still running when cancelled
        job = s.gw.wait_state(jid, {"running", "finished", "errored"}, timeout=120)
        assert job["state"] == "running", job
        sid = slurm_job_of(job)
        wait_until(lambda: len(processes_with_arg(jid)) >= 2, 30, "both ranks of " + jid)
        assert c.job_state(sid) == "RUNNING"
        st, _, doc = s.gw.json("DELETE", "/job/" + jid)
        assert st == 200, (st, doc)
        job = s.gw.wait_state(jid, {"cancelled", "errored", "finished"}, timeout=60)
        assert job["state"] == "cancelled", job
        assert c.job_state(sid) == "CANCELLED", c.job_state(sid)
        # No rank of it is left (a killed process may linger a moment as a zombie).
        wait_until(lambda: not processes_with_arg(jid), 15, "no process of " + jid)
        assert s.gw.job(jid)["state"] == "cancelled"
        st, _, doc = s.gw.json("DELETE", "/job/" + jid)
        assert st in (409, 410), (st, doc)
    print("cancel: Slurm job %s CANCELLED, no process left" % sid)


def case_timeout(top, bin_dir, c, env, work):
    # A compute that sleeps past the one-minute limit (then would run pi-compute): Slurm
    # ends it TIMEOUT while Redis still says queued.
    slow = os.path.join(work, "pi-compute-slow")
    with open(slow, "w") as f:
        f.write("#!/bin/sh\nsleep 600\nexec %s \"$@\"\n" % os.path.join(bin_dir, "pi-compute"))
    os.chmod(slow, stat.S_IRWXU)
    env = dict(env, PICLUSTER_COMPUTE=slow)
    with Stack(bin_dir, scheduler="slurm", args=gateway_args(top, 1, "--slurm-time", "1"),
               env=env) as s:
        jid = s.gw.submit(1000)
        job = s.gw.wait_state(jid, {"errored", "finished", "cancelled"}, timeout=240)
        assert job["state"] == "errored", job
        assert "TIMEOUT" in job["error"]["message"], job
        sid = slurm_job_of(job)
        assert c.job_state(sid) == "TIMEOUT"
        wait_until(lambda: not processes_with_arg(jid), 30, "no process of " + jid)
    print("timeout: errored with %r" % job["error"]["message"])


def started_by_sh(script):
    """True when a process runs `/bin/sh script ...` (a task, not srun naming it)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if len(argv) > 1 and argv[0] == b"/bin/sh" and argv[1] == script.encode():
                return True
    return False


def case_outage(top, bin_dir, c, env, work):
    # The controller stops answering while a job runs: the reconciler's squeue times out and
    # it must decide nothing (the job is not errored); once Slurm is back the job finishes.
    slow = os.path.join(work, "pi-compute-late")
    with open(slow, "w") as f:
        f.write("#!/bin/sh\nsleep 25\nexec %s \"$@\"\n" % os.path.join(bin_dir, "pi-compute"))
    os.chmod(slow, stat.S_IRWXU)
    env = dict(env, PICLUSTER_COMPUTE=slow)
    ctld = [int(line.split()[1]) for line in open(os.path.join(c.dir, "run", "pids"))
            if line.split()[0] == "slurmctld"][0]
    with Stack(bin_dir, scheduler="slurm", args=gateway_args(top, 1), env=env) as s:
        jid = s.gw.submit(3000)
        job = wait_until(lambda: s.gw.job(jid).get("scheduler") and s.gw.job(jid), 30,
                         "a Slurm job id for " + jid)
        sid = slurm_job_of(job)
        # Stop the controller only once the step's task runs: srun needs slurmctld to start
        # a step (without it the job fails, as Slurm does), not to keep one running.
        wait_until(lambda: started_by_sh(slow), 60, "the task of Slurm job %s" % sid)
        os.kill(ctld, signal.SIGSTOP)
        try:
            wait_until(lambda: "squeue failed" in s.gw.log(), 40, "a reconciler poll to time out")
            assert s.gw.job(jid)["state"] == "queued", s.gw.job(jid)
        finally:
            os.kill(ctld, signal.SIGCONT)
        job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=120)
        assert job["state"] == "finished", job
        st, _, body = s.gw.request("GET", "/job/download/" + jid)
        assert st == 200 and body == reference(bin_dir, 3000)
    print("outage: no decision while slurmctld was stopped; the job finished afterwards")


def case_refused(top, bin_dir, c, env):
    too_many = int(c.env["PICLUSTER_SLURM_CPUS"]) * int(c.env["PICLUSTER_SLURM_NODES"]) + 1
    with Stack(bin_dir, scheduler="slurm", args=gateway_args(top, too_many), env=env) as s:
        jid = s.gw.submit(1000)
        job = s.gw.wait_state(jid, {"errored", "finished", "cancelled"}, timeout=60)
        assert job["state"] == "errored", job
        msg = job["error"]["message"]
        assert "More processors requested than permitted" in msg, job
        assert not job.get("scheduler"), job  # never became a Slurm job
        assert c.run(["squeue", "-h", "-t", "all", "-o", "%i"]).stdout.strip() == ""
    print("refused: errored with %r" % msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("case", choices=["flow", "cancel", "timeout", "refused", "outage"])
    a = ap.parse_args()
    top, bin_dir = os.path.abspath(a.top), os.path.abspath(a.bin)
    if not os.path.exists(os.path.join(bin_dir, "pi-gateway")):
        raise AssertionError("no pi-gateway in " + bin_dir)
    with tempfile.TemporaryDirectory(prefix="picluster-slurm-gw-") as work, \
            Cluster(top, nodes=1, cpus=8) as c:
        env = dict(c.env)
        env.pop("PICLUSTER_COMPUTE", None)
        if a.case in ("timeout", "outage"):
            {"timeout": case_timeout, "outage": case_outage}[a.case](top, bin_dir, c, env, work)
        else:
            {"flow": case_flow, "cancel": case_cancel, "refused": case_refused}[a.case](
                top, bin_dir, c, env)


if __name__ == "__main__":
    main()
