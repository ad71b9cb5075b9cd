#!/usr/bin/python3
"""test_slurm_sbatch.py - slurm/pi.sbatch without the gateway, on a real Slurm (slurm-up).

    test_slurm_sbatch.py --top SRC --bin BUILD/bin direct    sbatch -n 8 ... --output F: exact digits
    test_slurm_sbatch.py --top SRC --bin BUILD/bin twonode   one job's ranks on both nodes n1, n2

Digits are compared with pi-reference (MPFR). Exit 0 on success; an assertion otherwise.
"""
import argparse
import os
import stat
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from slurm import Cluster  # noqa: E402
import subprocess  # noqa: E402


def reference(bin_dir, digits):
    return subprocess.run([os.path.join(bin_dir, "pi-reference"), "--digits", str(digits)],
                          check=True, stdout=subprocess.PIPE, timeout=120).stdout


def job_env(bin_dir):
    """pi-compute found on PATH, as an HPC user would have it; leak checks off for MPI."""
    env = {"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    opts = os.environ.get("ASAN_OPTIONS", "")
    if "detect_leaks" not in opts:
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=0"
    return env


def case_direct(top, bin_dir, work):
    digits = 20000
    out = os.path.join(work, "pi.txt")
    with Cluster(top, nodes=1, cpus=8) as c:
        env = job_env(bin_dir)
        env.pop("PICLUSTER_COMPUTE", None)
        p = c.run(["sbatch", "--parsable", "-n", "8", "-o", os.path.join(work, "slurm-%j.out"),
                   os.path.join(top, "slurm", "pi.sbatch"), "--digits", str(digits),
                   "--output", out], env=env)
        job = p.stdout.strip().split(";")[0]
        state = c.wait_job(job)
        log = open(os.path.join(work, "slurm-%s.out" % job), errors="replace").read()
        assert state == "COMPLETED", (state, log)
        # The job ran 8 tasks (sbatch -n 8 overrides the script's #SBATCH --ntasks=1).
        rec = c.run(["sacct", "-c", "-n", "-P", "-j", job, "-o", "JobID,State,NCPUS,JobName"])
        fields = rec.stdout.strip().splitlines()[-1].split("|")
        assert fields[1] == "COMPLETED" and fields[2] == "8", rec.stdout
        assert fields[3] == "picluster", rec.stdout  # the script's default job name
        got = open(out, "rb").read()
        want = reference(bin_dir, digits)
        assert got == want, "digits differ from pi-reference (%d vs %d bytes)" % (len(got), len(want))
        # A bad argument reaches pi-compute unchanged and fails the job (exit code 2).
        p = c.run(["sbatch", "--parsable", "-n", "2", "-J", "picluster-bad",
                   "-o", os.path.join(work, "bad-%j.out"), os.path.join(top, "slurm", "pi.sbatch"),
                   "--digits", "-5", "--output", os.path.join(work, "bad.txt")], env=env)
        bad = p.stdout.strip().split(";")[0]
        assert c.wait_job(bad) == "FAILED"
        rec = c.run(["sacct", "-c", "-n", "-P", "-j", bad, "-o", "JobName,ExitCode"])
        assert rec.stdout.strip().splitlines()[-1] == "picluster-bad|2:0", rec.stdout
        assert not os.path.exists(os.path.join(work, "bad.txt"))
    print("direct sbatch: %d digits exact, default job name and -n override checked" % digits)


def case_twonode(top, bin_dir, work):
    digits = 10000
    out = os.path.join(work, "pi.txt")
    ranks_dir = os.path.join(work, "ranks")
    os.makedirs(ranks_dir)
    # A wrapper that records which node each MPI rank runs on, then becomes pi-compute.
    wrapper = os.path.join(work, "pi-compute-where")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\necho \"$SLURMD_NODENAME\" > %s/rank.$SLURM_PROCID\n"
                "exec %s \"$@\"\n" % (ranks_dir, os.path.join(bin_dir, "pi-compute")))
    os.chmod(wrapper, stat.S_IRWXU)
    with Cluster(top, nodes=2, cpus=2) as c:
        env = job_env(bin_dir)
        env["PICLUSTER_COMPUTE"] = wrapper
        p = c.run(["sbatch", "--parsable", "-N", "2", "-n", "4", "--ntasks-per-node", "2",
                   "-o", os.path.join(work, "slurm-%j.out"),
                   os.path.join(top, "slurm", "pi.sbatch"), "--digits", str(digits),
                   "--output", out, "--timings"], env=env)
        job = p.stdout.strip().split(";")[0]
        state = c.wait_job(job)
        log = open(os.path.join(work, "slurm-%s.out" % job), errors="replace").read()
        assert state == "COMPLETED", (state, log)
        assert "4 ranks" in log, log  # pi-compute --timings: one MPI job of 4 ranks
        nodes = {}
        for r in range(4):
            with open(os.path.join(ranks_dir, "rank.%d" % r)) as f:
                nodes[r] = f.read().strip()
        assert sorted(nodes.values()) == ["n1", "n1", "n2", "n2"], nodes
        # Both slurmd daemons launched tasks of the job's step 0.
        for n in ("n1", "n2"):
            with open(os.path.join(c.dir, "log", "slurmd-%s.log" % n)) as f:
                assert "launch task StepId=%s.0" % job in f.read(), "no step on " + n
        rec = c.run(["sacct", "-c", "-n", "-P", "-j", job, "-o", "NodeList,NNodes"])
        assert rec.stdout.strip().splitlines()[-1] == "n[1-2]|2", rec.stdout
        got = open(out, "rb").read()
        assert got == reference(bin_dir, digits), "digits differ from pi-reference"
    print("two nodes: ranks on %s, %d digits exact" % (nodes, digits))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("case", choices=["direct", "twonode"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="picluster-sbatch-") as work:
        {"direct": case_direct, "twonode": case_twonode}[a.case](
            os.path.abspath(a.top), os.path.abspath(a.bin), work)


if __name__ == "__main__":
    main()
