#!/usr/bin/python3
"""test_gateway_slurm_submit.py - submissions while the Slurm controller does not answer.

    test_gateway_slurm_submit.py --top SRC --bin BUILD/bin

slurmctld is stopped (SIGSTOP) before a job is posted: sbatch cannot reach it, and the job must
stay queued (not end errored as if Slurm had refused it). Once the controller runs again
(SIGCONT) the submitter tries again and the job finishes with exact digits, through exactly
one Slurm job that runs the compute. A stopped controller may still take the first sbatch's
request from its socket backlog when it wakes up; the gateway then adopts that Slurm job
instead of submitting a second one.

Starts its own Slurm cluster (tests/support/slurm.py) and gateway stack
(tests/support/gateway.py) and stops them by PID.
"""
import argparse
import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway import Stack, wait_until  # noqa: E402
from slurm import Cluster  # noqa: E402
from test_slurm_gateway import gateway_args, reference, slurm_job_of  # noqa: E402


def slurmctld_pid(c):
    with open(os.path.join(c.dir, "run", "pids")) as f:
        return [int(line.split()[1]) for line in f if line.split()[0] == "slurmctld"][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    top, bin_dir = os.path.abspath(a.top), os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory(prefix="picluster-slurm-submit-"), \
            Cluster(top, nodes=1, cpus=8) as c:
        env = dict(c.env)
        env.pop("PICLUSTER_COMPUTE", None)
        ctld = slurmctld_pid(c)
        with Stack(bin_dir, scheduler="slurm", args=gateway_args(top, 1), env=env) as s:
            os.kill(ctld, signal.SIGSTOP)
            try:
                jid = s.gw.submit(3000)
                # Until the submitter has met the silent controller (sbatch times out after
                # Slurm's MessageTimeout), or the job ended anyway.
                wait_until(lambda: "stays queued, next try" in s.gw.log()
                           or s.gw.job(jid)["state"] in ("errored", "finished", "cancelled"),
                           120, "a submission that could not reach Slurm")
                job = s.gw.job(jid)
                assert job["state"] == "queued" and not job["error"], job
            finally:
                os.kill(ctld, signal.SIGCONT)
            job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=180)
            assert job["state"] == "finished", job
            st, _, body = s.gw.request("GET", "/job/download/" + jid)
            assert st == 200 and body == reference(bin_dir, 3000), (st, body[:100])
            sid = slurm_job_of(job)
            # One Slurm job carries the job's name: a request the controller took from its
            # backlog on waking up was adopted, not submitted a second time.
            c.wait_job(sid)
            names = c.run(["squeue", "-h", "-t", "all", "--name", "picluster-" + jid,
                           "-o", "%i|%T"]).stdout.split()
            assert names == ["%s|COMPLETED" % sid], names
            log = s.gw.log(tail=None)
    print("slurm submit outage: job stayed queued while slurmctld was stopped, then finished "
          "as Slurm job %s" % sid)
    for line in log.splitlines():
        if jid in line and ("next try" in line or "earlier sbatch" in line):
            print("  " + line)


if __name__ == "__main__":
    main()
