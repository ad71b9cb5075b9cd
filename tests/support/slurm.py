"""slurm.py - bring a private Slurm cluster up for a test (scripts/slurm-up) and down again.

Python 3 stdlib only (run with /usr/bin/python3). Typical use:

    from slurm import Cluster
    with Cluster(top, nodes=2) as c:
        out = c.run(["sbatch", "--parsable", ...]).stdout   # SLURM_CONF set from slurm.env
        c.wait_job(job_id)                                    # -> "COMPLETED"

A cluster that cannot start raises (with slurm-up's output and logs): tests never skip it.
slurm-down stops exactly what slurm-up started, also when the test fails.
"""
import os
import shutil
import subprocess
import tempfile
import time


class Cluster:
    def __init__(self, top, nodes=1, cpus=8, args=(), keep=False):
        self.top = top
        self.nodes = nodes
        self.cpus = cpus
        self.args = list(args)
        self.keep = keep
        self.dir = None
        self.env = None

    def up(self):
        self.dir = tempfile.mkdtemp(prefix="picluster-slurm-")
        cmd = [os.path.join(self.top, "scripts", "slurm-up"), self.dir, "--nodes",
               str(self.nodes), "--cpus", str(self.cpus)] + self.args
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180)
        if p.returncode != 0:
            out = p.stdout
            self.down()
            raise AssertionError("slurm-up failed (exit %d):\n%s" % (p.returncode, out))
        self.env = dict(os.environ)
        self.env.update(read_env(os.path.join(self.dir, "slurm.env")))
        return self

    def down(self):
        if not self.dir:
            return
        p = subprocess.run([os.path.join(self.top, "scripts", "slurm-down"), self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180)
        if p.returncode != 0:
            print("slurm-down failed:\n" + p.stdout)
        if not self.keep and p.returncode == 0:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        if exc[0] is not None and self.dir:
            print(self.logs())
        self.down()
        return False

    def run(self, argv, check=True, timeout=60, env=None, **kw):
        """Runs a Slurm client command against this cluster; returns the CompletedProcess."""
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, env=e, **kw)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (exit %d): %s%s"
                                 % (" ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def job_state(self, job_id):
        """The job's state from squeue -t all, or from sacct -c once it left the queue."""
        p = self.run(["squeue", "-h", "-t", "all", "-j", str(job_id), "-o", "%T"], check=False)
        state = p.stdout.strip()
        if state:
            return state
        p = self.run(["sacct", "-c", "-n", "-P", "-j", str(job_id), "-o", "State"], check=False)
        lines = p.stdout.split()
        return lines[-1] if lines else ""

    def wait_job(self, job_id, timeout=300):
        """Waits until the job left the pending/running states; returns its final state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.job_state(job_id)
            if state and state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
                return state
            if time.monotonic() > deadline:
                raise AssertionError("Slurm job %s still %s after %ds\n%s"
                                     % (job_id, state, timeout, self.logs()))
            time.sleep(0.2)

    def logs(self, lines=30):
        """The last lines of every daemon log, for failure messages."""
        out = []
        logdir = os.path.join(self.dir or "", "log")
        if os.path.isdir(logdir):
            for name in sorted(os.listdir(logdir)):
                with open(os.path.join(logdir, name), errors="replace") as f:
                    tail = f.readlines()[-lines:]
                out.append("---- %s ----\n%s" % (name, "".join(tail)))
        return "\n".join(out)


def read_env(path):
    """The `export NAME=value` lines of slurm.env as a dict."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                name, value = line[len("export "):].split("=", 1)
                env[name] = value
    return env
