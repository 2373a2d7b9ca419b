"""Helpers shared by the integration tests that drive the real airlock binary.

The binary is named by $AIRLOCK_BIN (ctest sets it to the built target). Every test works
in its own temporary directory and never writes anywhere else. Everything here is computed
independently of airlock (hashlib, hmac, the cryptography package), so that a test compares
airlock's output with a second implementation rather than with itself.
"""

import base64
import ctypes
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("AIRLOCK_BIN", "")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# A compact JWS: three unpadded base64url segments.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
# An RFC 7638 SHA-256 thumbprint, base64url without padding.
THUMBPRINT_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")

# Members a public JWK must never carry (RSA and OKP private parts, and an oct secret).
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def json_segment(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def decode_segment(segment: str):
    return json.loads(b64url_decode(segment))


def split_token(token: str):
    """(header dict, claims dict, signature bytes) of a compact token, unverified."""
    header, payload, signature = token.split(".")
    return decode_segment(header), decode_segment(payload), b64url_decode(signature)


def hs512_token(key: bytes, claims: dict, header=None) -> str:
    """A token MAC'd with HMAC-SHA-512 over `key`, built with the standard library only."""
    if header is None:
        header = {"alg": "HS512", "typ": "JWT"}
    signing_input = json_segment(header) + "." + json_segment(claims)
    tag = hmac.new(key, signing_input.encode("ascii"), hashlib.sha512).digest()
    return signing_input + "." + b64url(tag)


def rfc7638_thumbprint(jwk: dict) -> str:
    """RFC 7638 §3: SHA-256 over the JSON of the required members only, sorted by name,
    with no whitespace."""
    required = {
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
        "EC": ("crv", "kty", "x", "y"),
        "oct": ("k", "kty"),
    }[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk_from_pem(pem: bytes) -> dict:
    """The public JWK members of a PEM key (private or public), via the cryptography
    package rather than airlock."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        key = serialization.load_pem_private_key(pem, password=None).public_key()
    except ValueError:
        key = serialization.load_pem_public_key(pem)
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()

        def uint(n: int) -> str:
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    raise ValueError("unsupported key type")


def public_pem_from_pem(pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def run(*args, stdin=None, umask=None, timeout=60) -> subprocess.CompletedProcess:
    """Runs airlock with `args`; text stdout/stderr; never raises on a non-zero exit."""
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run(
        [BIN, *[str(a) for a in args]],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
    )


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start(args, **popen_kwargs) -> subprocess.Popen:
    """subprocess.Popen for a process that runs until the test stops it (a server, a
    scheduler, `airlock standalone`). The process gets SIGTERM if the test process dies
    first, killed by hand or by ctest's timeout, so that nothing the test started (often in
    a session of its own) outlives it; `airlock standalone` passes the SIGTERM on to its
    children. Call it from the test's main thread: the signal follows the thread that
    started the process."""
    parent = os.getpid()

    def die_with_parent():
        if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            os._exit(127)
        if os.getppid() != parent:  # the test died before prctl
            os._exit(127)

    return subprocess.Popen(args, preexec_fn=die_with_parent, **popen_kwargs)


class JwksServer:
    """Serves `body` at every path from a thread, on 127.0.0.1 and a port the kernel
    picks. Use as a context manager; .url is the base URL; .requests counts GETs."""

    def __init__(self, body: bytes, status: int = 200):
        self.body = body
        self.status = status
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class AirlockTestCase(unittest.TestCase):
    """A test case with a fresh temporary directory per test (self.dir) and assertions
    for airlock's exit-code contract."""

    @classmethod
    def setUpClass(cls):
        if not BIN or not os.access(BIN, os.X_OK):
            raise unittest.SkipTest("AIRLOCK_BIN does not name the airlock binary")
        cls._class_tmp = tempfile.TemporaryDirectory(prefix="airlock-it-")
        cls.class_dir = cls._class_tmp.name

    @classmethod
    def tearDownClass(cls):
        cls._class_tmp.cleanup()

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="airlock-it-")
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def write(self, name: str, data, mode: int = 0o600) -> str:
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(path, mode)
        return path

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def assertSucceeds(self, result: subprocess.CompletedProcess):
        self.assertEqual(
            result.returncode, EXIT_OK, "stdout=%r stderr=%r" % (result.stdout, result.stderr)
        )

    def assertFailsWithOneLine(self, result, code: int, contains: str = "", secrets=()):
        """Exit `code`, nothing on stdout, exactly one line on stderr that contains
        `contains` and none of `secrets`."""
        self.assertEqual(result.returncode, code, "stdout=%r stderr=%r" % (result.stdout, result.stderr))
        self.assertEqual(result.stdout, "")
        self.assertTrue(result.stderr.endswith("\n"), repr(result.stderr))
        self.assertEqual(result.stderr.count("\n"), 1, repr(result.stderr))
        self.assertIn(contains, result.stderr)
        for secret in secrets:
            if secret:
                self.assertNotIn(secret, result.stderr)

    def assertUsageError(self, result, contains: str = ""):
        """Exit 2 and nothing on stdout; CLI11's own usage errors take two lines."""
        self.assertEqual(
            result.returncode, EXIT_USAGE, "stdout=%r stderr=%r" % (result.stdout, result.stderr)
        )
        self.assertEqual(result.stdout, "")
        self.assertNotEqual(result.stderr, "")
        self.assertIn(contains, result.stderr)


def now() -> int:
    return int(time.time())
