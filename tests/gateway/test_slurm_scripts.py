#!/usr/bin/python3
"""test_slurm_scripts.py - scripts/slurm-up and slurm-down: loopback only, idempotent, by PID.

    test_slurm_scripts.py --top SRC

Brings a two-node cluster up in a temp dir and checks: every recorded daemon runs, each
listening socket of theirs is on 127.0.0.1, every file they write is under DIR, a second
slurm-up does nothing, slurm-down stops exactly the recorded PIDs, a second slurm-down
succeeds, and bad usage is refused with exit code 2.
"""
import argparse
import os
import subprocess
import tempfile


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=180, **kw)


def listening_inodes():
    """inode -> "addr:port" of every listening TCP socket (IPv4 and IPv6)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A":  # LISTEN
                continue
            addr, port = f[1].split(":")
            if len(addr) == 8:
                ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                ip = "ipv6:" + addr
            found[f[9]] = "%s:%d" % (ip, int(port, 16))
    return found


def sockets_of(pid):
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    a = ap.parse_args()
    up = os.path.join(a.top, "scripts", "slurm-up")
    down = os.path.join(a.top, "scripts", "slurm-down")
    with tempfile.TemporaryDirectory(prefix="picluster-slurm-scripts-") as work:
        os.chmod(work, 0o755)  # munged wants every folder above its socket searchable
        d = os.path.join(work, "cluster")
        assert run([up]).returncode == 2
        assert run([up, d, "--nodes", "3"]).returncode == 2
        assert run([down]).returncode == 2
        p = run([up, d, "--nodes", "2", "--cpus", "2"])
        try:
            assert p.returncode == 0, p.stdout
            pids = {}
            for line in open(os.path.join(d, "run", "pids")):
                name, pid = line.split()
                pids[name] = int(pid)
            assert sorted(pids) == ["munged", "slurmctld", "slurmd-n1", "slurmd-n2"], pids
            listening = listening_inodes()
            ports = []
            for name, pid in pids.items():
                assert alive(pid), name
                for inode in sockets_of(pid):
                    if inode in listening:
                        ports.append((name, listening[inode]))
            assert ports, "no daemon listens"
            for name, where in ports:
                assert where.startswith("127.0.0.1:"), (name, where)
            names = {n for n, _ in ports}
            assert {"slurmctld", "slurmd-n1", "slurmd-n2"} <= names, ports
            env = open(os.path.join(d, "slurm.env")).read()
            assert "export SLURM_CONF=%s/etc/slurm.conf" % d in env, env
            for f in ("munge/munge.socket.2", "log/slurmctld.log", "log/slurmd-n1.log",
                      "log/slurmd-n2.log", "spool/ctld", "tmp/n1", "tmp/n2"):
                assert os.path.exists(os.path.join(d, f)), f
            again = run([up, d, "--nodes", "2", "--cpus", "2"])
            assert again.returncode == 0 and "already running" in again.stdout, again.stdout
            for name, pid in pids.items():
                assert alive(pid), name + " died on the second slurm-up"
        finally:
            stop = run([down, d])
        assert stop.returncode == 0, stop.stdout
        for name, pid in pids.items():
            assert not alive(pid), "%s (pid %d) still runs" % (name, pid)
        assert not os.path.exists(os.path.join(d, "slurm.env"))
        again = run([down, d])
        assert again.returncode == 0 and "not running" in again.stdout, again.stdout
    print("slurm-up/slurm-down: loopback only %s, idempotent, stopped by PID" % sorted(ports))


if __name__ == "__main__":
    main()
