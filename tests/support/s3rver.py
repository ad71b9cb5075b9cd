#!/usr/bin/python3
"""s3rver.py - a private S3 endpoint for tests: s3rver behind a SigV4-checking proxy.

s3rver (npm, installed by scripts/bootstrap in .tools/) speaks the S3 API but checks no
signature at all, so a signing bug would pass unnoticed. Clients therefore talk to a small
proxy in this process that re-derives every request's SigV4 signature with Debian's
python3-botocore (header-signed requests and presigned URLs alike) and answers 403
SignatureDoesNotMatch, with the canonical request it expected, when they differ; otherwise
it forwards the request to s3rver unchanged. It also refuses a wrong x-amz-content-sha256.

s3rver 3.7 lacks AbortMultipartUpload and ListMultipartUploads (it answers 405 and
NotImplemented). The proxy serves both, after the same signature check, from s3rver's own
upload folders (BUCKET/._S3rver_uploads/ID/ with a 'key' file), so tests can check that an
aborted upload is really gone.

Use from Python (run as /usr/bin/python3):

    from s3rver import S3rver
    with S3rver() as s3:
        s3.store_url("prefix")  # s3://picluster-test/prefix?endpoint=http://127.0.0.1:P&region=us-east-1
        s3.env()                # {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
        s3.stop_backend(); s3.start_backend()   # the endpoint goes away and comes back
        s3.uploads(); s3.objects(); s3.get(key); s3.refused

From C (tests/support/s3rver.c): `s3rver.py --serve` prints one line
"ready ENDPOINT BUCKET DIR" and then answers commands on stdin, one line each:
stop, start, uploads, objects, refused (count and last reason, then clears them),
"fail N" (the next N requests get 503 SlowDown), "cut N" (the next successful GET is cut
off after N body bytes), quit (or end of input). Run without arguments,
it checks itself. s3rver is stopped by its PID; nothing else is ever signalled.
"""
import hashlib
import http.client
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S3RVER_BIN = os.path.join(TOP, ".tools", "node_modules", ".bin", "s3rver")
KEY = "S3RVER"  # s3rver's built-in access key and secret
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "upgrade", "expect", "content-length"}
AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/s3/aws4_request,"
                     r" ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$")


def free_port():
    """A loopback port the kernel considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error_xml(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
            '</Message></Error>' % (escape(code), escape(message))).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests print what matters
        pass

    def do_GET(self):
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if self.command != "HEAD" or not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        owner = self.server.owner
        if self.headers.get("Transfer-Encoding"):
            self._send(501, [], _error_xml("NotImplemented", "chunked bodies not supported"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        problem = owner.check_signature(self.command, self.path, self.headers, body)
        if problem:
            owner.refused.append(problem)
            code = problem.split(":", 1)[0]
            self._send(403 if code != "XAmzContentSHA256Mismatch" else 400,
                       [("Content-Type", "application/xml")], _error_xml(code, problem))
            return
        if not owner.backend_running():
            # The endpoint is gone: no answer at all, as from a dead server.
            self.close_connection = True
            return
        with owner.lock:
            fail = owner.fail_next > 0
            if fail:
                owner.fail_next -= 1
        if fail:
            self._send(503, [("Content-Type", "application/xml")],
                       _error_xml("SlowDown", "Please reduce your request rate. (injected)"))
            return
        ext = owner.extension(self.command, self.path)
        if ext:
            status, headers, data = ext
            self._send(status, headers, data)
            return
        try:
            conn = http.client.HTTPConnection("127.0.0.1", owner.backend_port, timeout=60)
            fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            fwd["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=fwd)
            resp = conn.getresponse()
            data = resp.read()
            # Date and Server come from send_response already.
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in HOP_BY_HOP | {"date", "server"} or
                       (self.command == "HEAD" and k.lower() == "content-length")]
            conn.close()
        except OSError:
            self.close_connection = True
            return
        cut = None
        if self.command == "GET" and 200 <= resp.status < 300:
            with owner.lock:
                cut, owner.cut_next = owner.cut_next, None
        if cut is not None and cut < len(data):
            # The whole length announced, part of the body sent, then the connection
            # drops: a transfer cut off mid-stream.
            self.send_response(resp.status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(resp.status, headers, data)


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up mid-transfer (a reader stopping early) is normal here.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class S3rver:
    """s3rver on a free loopback port with a temp dir, behind a signature-checking proxy."""

    def __init__(self, bucket="picluster-test", region="us-east-1"):
        self.bucket = bucket
        self.region = region
        self.dir = None
        self.proc = None
        self.proxy = None
        self.refused = []  # why each refused request was refused
        self.lock = threading.Lock()
        self.fail_next = 0  # answer this many next requests with 503 SlowDown
        self.cut_next = None  # cut the next successful GET's body after this many bytes

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        if not os.access(S3RVER_BIN, os.X_OK):
            raise RuntimeError("%s missing: run scripts/bootstrap" % S3RVER_BIN)
        self.dir = tempfile.mkdtemp(prefix="picluster-s3rver-")
        self.backend_port = free_port()
        self.start_backend()
        self.proxy = _ThreadingServer(("127.0.0.1", 0), _Handler)
        self.proxy.owner = self
        self.port = self.proxy.server_address[1]
        threading.Thread(target=self.proxy.serve_forever, daemon=True).start()

    def start_backend(self):
        """Starts s3rver (again) on the same port and folder; returns once it answers."""
        log = open(os.path.join(self.dir, "s3rver.log"), "ab")
        self.proc = subprocess.Popen(
            [S3RVER_BIN, "-d", os.path.join(self.dir, "data"), "--address", "127.0.0.1",
             "--port", str(self.backend_port), "--configure-bucket", self.bucket, "--silent"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("s3rver exited with %s; see %s/s3rver.log"
                                   % (self.proc.returncode, self.dir))
            try:
                with socket.create_connection(("127.0.0.1", self.backend_port), timeout=1):
                    pass
                # Listening; the bucket is configured before listen() in s3rver.
                return
            except OSError:
                time.sleep(0.05)
        self.stop_backend()
        raise RuntimeError("s3rver did not start listening within 60 s")

    def stop_backend(self):
        """Stops s3rver by its PID (SIGTERM, then SIGKILL) and waits for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def backend_running(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        if self.proxy:
            self.proxy.shutdown()
            self.proxy.server_close()
            self.proxy = None
        self.stop_backend()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- what tests use -------------------------------------------------------------------
    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def store_url(self, prefix=""):
        return "s3://%s/%s?endpoint=%s&region=%s" % (self.bucket, prefix, self.endpoint,
                                                     self.region)

    def env(self):
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": KEY}

    def client(self):
        """A botocore S3 client for this endpoint (made once: creating one takes ~0.3 s)."""
        if getattr(self, "_client", None) is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self):
        import botocore.config
        import botocore.session
        return botocore.session.get_session().create_client(
            "s3", region_name=self.region, endpoint_url=self.endpoint,
            aws_access_key_id=KEY, aws_secret_access_key=KEY,
            config=botocore.config.Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}))

    def uploads(self):
        """[(key, upload_id)] of incomplete multipart uploads, by ListMultipartUploads."""
        r = self.client().list_multipart_uploads(Bucket=self.bucket)
        return [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]

    def objects(self):
        """[(key, size)] of the bucket's objects, by ListObjectsV2."""
        r = self.client().list_objects_v2(Bucket=self.bucket)
        return [(o["Key"], o["Size"]) for o in r.get("Contents", [])]

    def get(self, key):
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    # -- the proxy's checks ---------------------------------------------------------------
    def check_signature(self, method, target, headers, body):
        """None if the request is signed right (or not by our key: s3rver then refuses it),
        else 'Code: explanation'."""
        host = headers.get("Host", "")
        parts = urlsplit(target)
        auth = headers.get("Authorization")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if auth:
            m = AUTH_RE.match(auth)
            if not m:
                return "AuthorizationHeaderMalformed: %s" % auth
            access_key, date, region, signed, signature = m.groups()
            if access_key != KEY:
                return None
            if region != self.region:
                return "AuthorizationHeaderMalformed: region %s, expected %s" % (
                    region, self.region)
            amz_date = headers.get("x-amz-date", "")
            if amz_date[:8] != date:
                return "AccessDenied: x-amz-date %r does not match the scope" % amz_date
            sha = headers.get("x-amz-content-sha256")
            if not sha:
                return "InvalidRequest: x-amz-content-sha256 missing"
            if sha != "UNSIGNED-PAYLOAD" and sha != hashlib.sha256(body).hexdigest():
                return "XAmzContentSHA256Mismatch: header %s, body %s" % (
                    sha, hashlib.sha256(body).hexdigest())
            names = signed.split(";")
            for k in headers.keys():
                if k.lower().startswith("x-amz-") and k.lower() not in names:
                    return "AccessDenied: header %s is not signed" % k
            if "host" not in names:
                return "AccessDenied: host is not signed"
            missing = [n for n in names if headers.get(n) is None]
            if missing:
                return "AccessDenied: signed headers %s not sent" % missing
            req = AWSRequest(method=method, url="http://%s%s" % (host, target),
                             headers={n: headers.get(n) for n in names}, data=body)
            req.context["timestamp"] = amz_date
            signer = S3SigV4Auth(Credentials(KEY, KEY), "s3", region)
        elif "X-Amz-Signature" in query:
            cred = query.get("X-Amz-Credential", "").split("/")
            if len(cred) != 5 or cred[0] != KEY:
                return None
            signature = query["X-Amz-Signature"]
            if query.get("X-Amz-SignedHeaders") != "host":
                return "AccessDenied: presigned URL signs %s" % query.get("X-Amz-SignedHeaders")
            unsigned = "&".join(p for p in parts.query.split("&")
                                if not p.startswith("X-Amz-Signature="))
            req = AWSRequest(method=method, url="http://%s%s?%s" % (host, parts.path, unsigned),
                             headers={"host": host})
            req.context["timestamp"] = query.get("X-Amz-Date", "")
            signer = S3SigV4QueryAuth(Credentials(KEY, KEY), "s3", cred[2],
                                      expires=int(query.get("X-Amz-Expires", "0")))
        else:
            return None
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        if expected != signature:
            return ("SignatureDoesNotMatch: expected %s for the canonical request\n%s"
                    % (expected, canonical))
        return None

    def extension(self, method, target):
        """ListMultipartUploads and AbortMultipartUpload, which s3rver lacks."""
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        if bucket != self.bucket:
            return None
        updir = os.path.join(self.dir, "data", bucket, "._S3rver_uploads")
        xml = [("Content-Type", "application/xml")]
        if method == "GET" and not key and "uploads" in query:
            out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>'
                   "<Bucket>%s</Bucket>" % escape(bucket)]
            for uid in sorted(os.listdir(updir)) if os.path.isdir(updir) else []:
                try:
                    with open(os.path.join(updir, uid, "key"), encoding="utf-8") as f:
                        ukey = f.read()
                except OSError:
                    continue
                if not ukey.startswith(query.get("prefix", "")):
                    continue
                out.append("<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>"
                           % (escape(ukey), escape(uid)))
            out.append("<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>")
            return 200, xml, "".join(out).encode()
        if method == "DELETE" and key and "uploadId" in query:
            uid = query["uploadId"]
            path = os.path.join(updir, uid)
            try:
                with open(os.path.join(path, "key"), encoding="utf-8") as f:
                    ok = f.read() == key and "/" not in uid and uid not in ("", ".", "..")
            except OSError:
                ok = False
            if not ok:
                return 404, xml, _error_xml("NoSuchUpload",
                                            "The specified upload does not exist.")
            shutil.rmtree(path)
            return 204, [], b""
        return None


def _serve():
    with S3rver() as s3:
        print("ready %s %s %s" % (s3.endpoint, s3.bucket, s3.dir), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            try:
                if cmd == "stop":
                    s3.stop_backend()
                    reply = "ok"
                elif cmd == "start":
                    s3.start_backend()
                    reply = "ok"
                elif cmd == "uploads":
                    reply = "ok %d %s" % (len(s3.uploads()), " ".join(
                        "%s=%s" % (k, u) for k, u in s3.uploads()))
                elif cmd == "objects":
                    reply = "ok %d %s" % (len(s3.objects()), " ".join(
                        "%s=%d" % (k, n) for k, n in s3.objects()))
                elif cmd == "refused":
                    last = s3.refused[-1].replace("\n", " | ") if s3.refused else ""
                    reply = "ok %d %s" % (len(s3.refused), last)
                    s3.refused.clear()
                elif cmd.startswith("fail "):
                    with s3.lock:
                        s3.fail_next = int(cmd[5:])
                    reply = "ok"
                elif cmd.startswith("cut "):
                    with s3.lock:
                        s3.cut_next = int(cmd[4:])
                    reply = "ok"
                elif cmd == "quit":
                    print("ok", flush=True)
                    break
                else:
                    reply = "error unknown command %r" % cmd
            except Exception as e:  # report, keep serving
                reply = "error %s" % str(e).replace("\n", " ")
            print(reply.rstrip(), flush=True)


def _self_check():
    """Starts the pair, talks to it with botocore, and checks the proxy refuses bad
    signatures: the harness's own test."""
    import botocore.exceptions
    with S3rver() as s3:
        c = s3.client()
        c.put_object(Bucket=s3.bucket, Key="a/b.txt", Body=b"hello")
        assert s3.get("a/b.txt") == b"hello"
        assert s3.objects() == [("a/b.txt", 5)]
        up = c.create_multipart_upload(Bucket=s3.bucket, Key="m.bin")["UploadId"]
        assert s3.uploads() == [("m.bin", up)], s3.uploads()
        c.abort_multipart_upload(Bucket=s3.bucket, Key="m.bin", UploadId=up)
        assert s3.uploads() == []
        assert not s3.refused, s3.refused
        # A wrong secret: s3rver alone would accept it; the proxy must not.
        import botocore.config
        import botocore.session
        bad = botocore.session.get_session().create_client(
            "s3", region_name=s3.region, endpoint_url=s3.endpoint,
            aws_access_key_id=KEY, aws_secret_access_key="wrong",
            config=botocore.config.Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}))
        try:
            bad.get_object(Bucket=s3.bucket, Key="a/b.txt")
            raise AssertionError("a wrong secret was accepted")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
        url = bad.generate_presigned_url("get_object",
                                         Params={"Bucket": s3.bucket, "Key": "a/b.txt"})
        conn = http.client.HTTPConnection("127.0.0.1", s3.port)
        conn.request("GET", url[len(s3.endpoint):])
        assert conn.getresponse().status == 403
        good = c.generate_presigned_url("get_object",
                                        Params={"Bucket": s3.bucket, "Key": "a/b.txt"})
        conn = http.client.HTTPConnection("127.0.0.1", s3.port)
        conn.request("GET", good[len(s3.endpoint):])
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"hello"
        # The endpoint goes away and comes back with its data.
        s3.stop_backend()
        try:
            c.head_object(Bucket=s3.bucket, Key="a/b.txt")
            raise AssertionError("a stopped endpoint answered")
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError,
                botocore.exceptions.EndpointConnectionError):
            pass
        s3.start_backend()
        assert s3.get("a/b.txt") == b"hello"
    print("s3rver.py: self-check passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
    elif not sys.argv[1:]:
        _self_check()
    else:
        sys.exit("usage: s3rver.py [--serve]")
