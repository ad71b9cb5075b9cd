"""test_keys.py - `pi-gateway key create|list|revoke` against a real redis-server.

Usage: test_keys.py --bin BUILD/bin
Checks the contract of issue 10's key command: create prints the secret alone on one line
(256 random bits, base64url), Redis holds its SHA-256 and never the secret, list prints one
line per key and never a secret, revoke deletes at once, and the exit statuses (2 bad input
with a message and nothing on stdout, 1 Redis unreachable); also a Redis with requirepass
through --redis-password-file, PICLUSTER_REDIS_PASSWORD and the URL, and --key-prefix.
Starts its own redis-servers on free loopback ports and stops them by PID. Run with
/usr/bin/python3 (stdlib only).
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from redis import RedisServer, free_port  # noqa: E402

BIN = None
SECRET_RE = re.compile(r"^pk_[A-Za-z0-9_-]{43}$")
LINE_RE = re.compile(r"^(?P<name>[A-Za-z0-9._-]+) admin=(?P<admin>yes|no) "
                     r"max_queued=(?P<max_queued>\d+|default) "
                     r"max_running=(?P<max_running>\d+|default) "
                     r"max_digits=(?P<max_digits>\d+|default) "
                     r"digits_per_day=(?P<digits_per_day>\d+|default) "
                     r"used_today=(?P<used_today>\d+)$")


def key(*args, env=None):
    """Runs pi-gateway key ARGS; returns (status, stdout, stderr)."""
    e = dict(os.environ)
    for v in ("PICLUSTER_REDIS", "PICLUSTER_REDIS_PASSWORD", "PICLUSTER_REDIS_PASSWORD_FILE",
              "PICLUSTER_KEY_PREFIX"):
        e.pop(v, None)
    e.update(env or {})
    p = subprocess.run([os.path.join(BIN, "pi-gateway"), "key"] + list(args), env=e,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def create(url, name, *flags, env=None):
    rc, out, err = key("create", name, *flags, "--redis", url, env=env)
    assert rc == 0, "create %s: %d %r" % (name, rc, err)
    assert out.endswith("\n") and out.count("\n") == 1, "one line on stdout: %r" % out
    secret = out[:-1]
    assert SECRET_RE.match(secret), "secret %r: pk_ + 43 base64url characters" % secret
    return secret


def list_keys(url, env=None, extra=()):
    rc, out, err = key("list", "--redis", url, *extra, env=env)
    assert rc == 0, "list: %d %r" % (rc, err)
    lines = out.splitlines()
    keys = {}
    for line in lines:
        m = LINE_RE.match(line)
        assert m, "list line %r" % line
        keys[m.group("name")] = m.groupdict()
    assert len(keys) == len(lines)
    return keys, out


def all_redis_text(r):
    """Every key and every value (strings, hashes) in Redis, as one text."""
    parts = []
    for k in r.command("KEYS", "*"):
        parts.append(k)
        kind = r.command("TYPE", k)
        if kind == "string":
            parts.append(r.command("GET", k))
        elif kind == "hash":
            parts.extend(r.command("HGETALL", k))
        else:
            raise AssertionError("unexpected %s key %s" % (kind, k))
    return "\n".join(parts)


def bad(url, *args, want=2, what=""):
    rc, out, err = key(*args)
    assert rc == want, "%s: want exit %d, got %d (%r)" % (what or args, want, rc, err)
    assert out == "", "%s: stdout must be empty, got %r" % (what or args, out)
    assert err.strip().startswith("pi-gateway: "), "%s: message on stderr: %r" % (args, err)


def case_basics():
    with RedisServer() as r:
        url = r.url
        a = create(url, "alice", "--max-queued", "5", "--max-running", "2", "--max-digits",
                   "1000000", "--digits-per-day", "50000000")
        a2 = create(url, "root.admin_1", "--admin")
        assert a != a2
        # 128+ bits: 43 base64url characters carry 258 bits, of which 256 are random; and
        # secrets are not reused.
        many = {create(url, "k%d" % i) for i in range(20)}
        assert len(many) == 20 and a not in many

        # Redis holds the SHA-256 of each secret and never the secret.
        text = all_redis_text(r)
        for s in [a, a2] + list(many):
            assert s not in text and s[3:] not in text, "Redis holds a secret"
            h = hashlib.sha256(s.encode()).hexdigest()
            assert r.command("EXISTS", "picluster:apikey:" + h) == 1
        ha = hashlib.sha256(a.encode()).hexdigest()
        assert r.command("HGET", "picluster:apikeys", "alice") == ha
        rec = r.command("HGETALL", "picluster:apikey:" + ha)
        rec = dict(zip(rec[::2], rec[1::2]))
        assert rec["name"] == "alice" and rec["admin"] == "0"
        assert rec["max_queued"] == "5" and rec["digits_per_day"] == "50000000"

        # list: one line per key, sorted, limits as given, never a secret.
        r.command("SET", "picluster:usage:alice:" + utc_today(), "1234")
        keys, out = list_keys(url)
        assert sorted(keys) == list(keys), "sorted by name"
        assert len(keys) == 22
        k = keys["alice"]
        assert (k["admin"], k["max_queued"], k["max_running"], k["max_digits"],
                k["digits_per_day"], k["used_today"]) == ("no", "5", "2", "1000000",
                                                          "50000000", "1234")
        k = keys["root.admin_1"]
        assert k["admin"] == "yes" and k["max_queued"] == "default"
        assert k["used_today"] == "0"
        for s in [a, a2] + list(many):
            assert s not in out and s[3:] not in out

        # Duplicate names are bad input: 2, and the first key is untouched.
        bad(url, "create", "alice", "--redis", url, what="duplicate name")
        assert r.command("HGET", "picluster:apikeys", "alice") == ha

        # revoke: gone at once; a second revoke is bad input.
        rc, out, err = key("revoke", "alice", "--redis", url)
        assert (rc, out) == (0, ""), (rc, out, err)
        assert r.command("EXISTS", "picluster:apikey:" + ha) == 0
        assert r.command("HEXISTS", "picluster:apikeys", "alice") == 0
        keys, _ = list_keys(url)
        assert "alice" not in keys and len(keys) == 21
        bad(url, "revoke", "alice", "--redis", url, what="second revoke")
        bad(url, "revoke", "nobody", "--redis", url, what="unknown name")
        # The name is free again, with a new secret.
        assert create(url, "alice") != a

        # Bad input: 2, a message, nothing on stdout, nothing written.
        before = all_redis_text(r)
        for args in (
                ("create", "a b", "--redis", url),
                ("create", "", "--redis", url),
                ("create", "x" * 65, "--redis", url),
                ("create", "a:b", "--redis", url),
                ("create", "caf\u00e9", "--redis", url),
                ("create", "--redis", url),
                ("create", "a", "b", "--redis", url),
                ("create", "n", "--max-queued", "0", "--redis", url),
                ("create", "n", "--max-queued", "-1", "--redis", url),
                ("create", "n", "--max-queued", "1x", "--redis", url),
                ("create", "n", "--max-running", " 3", "--redis", url),
                ("create", "n", "--max-digits", "1000000000001", "--redis", url),
                ("create", "n", "--digits-per-day", "99999999999999999999", "--redis", url),
                ("create", "n", "--max-digits", "--redis", url),
                ("create", "n", "--bogus", "--redis", url),
                ("create", "n"),
                ("create", "n", "--redis", "http://127.0.0.1:1"),
                ("create", "n", "--redis", url, "--key-prefix", ""),
                ("list", "--admin", "--redis", url),
                ("list", "extra", "--redis", url),
                ("revoke", "--redis", url),
                ("revoke", "k1", "--max-queued", "3", "--redis", url),
                ("rename", "k1", "--redis", url),
                (),
        ):
            bad(url, *args)
        assert all_redis_text(r) == before

        # --key-prefix: a store of its own.
        s = create(url, "other", "--key-prefix", "tenant2:")
        assert r.command("HGET", "tenant2:apikeys", "other") == \
            hashlib.sha256(s.encode()).hexdigest()
        keys, _ = list_keys(url, extra=("--key-prefix", "tenant2:"))
        assert list(keys) == ["other"]
        keys, _ = list_keys(url)
        assert "other" not in keys

        # help goes to stdout with status 0.
        rc, out, _ = key("--help")
        assert rc == 0 and "key create NAME" in out

    # Redis unreachable: 1, with a message and nothing on stdout.
    down = "redis://127.0.0.1:%d" % free_port()
    for args in (("create", "n", "--redis", down), ("list", "--redis", down),
                 ("revoke", "n", "--redis", down)):
        bad(down, *args, want=1)
    print("basics: ok")


def utc_today():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def case_password():
    password = "k3y s3cret@/x"
    with RedisServer(password=password) as r, tempfile.TemporaryDirectory() as d:
        url = r.url
        path = os.path.join(d, "redis-password")
        with open(path, "w") as f:
            f.write(password + "\n")
        s1 = create(url, "viafile", "--redis-password-file", path)
        s2 = create(url, "viaenv", env={"PICLUSTER_REDIS_PASSWORD": password})
        enc = url.replace("redis://", "redis://:%s@" % password.replace(" ", "%20")
                          .replace("@", "%40").replace("/", "%2F"))
        s3 = create(enc, "viaurl")
        keys, out = list_keys(url, extra=("--redis-password-file", path))
        assert sorted(keys) == ["viafile", "viaenv", "viaurl"] or \
            set(keys) == {"viafile", "viaenv", "viaurl"}
        for s in (s1, s2, s3):
            assert s not in out
        # No password, or a wrong one: Redis refuses, exit 1 and the password is not shown.
        rc, out, err = key("list", "--redis", url)
        assert rc == 1 and out == "" and "refused the password" in err, (rc, err)
        rc, out, err = key("list", "--redis", url,
                           env={"PICLUSTER_REDIS_PASSWORD": "wrong-one"})
        assert rc == 1 and out == "" and "wrong-one" not in err, (rc, err)
        # A password file and a URL password together, or an unreadable file: bad input.
        bad(url, "list", "--redis", enc, "--redis-password-file", path)
        bad(url, "list", "--redis", url, "--redis-password-file", os.path.join(d, "none"))
        rc, _, err = key("revoke", "viafile", "--redis", url, "--redis-password-file", path)
        assert rc == 0, err
        assert password not in err
    print("password: ok")


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="*", default=["basics", "password"])
    args = ap.parse_args()
    BIN = args.bin
    for c in args.cases:
        globals()["case_" + c]()


if __name__ == "__main__":
    main()
