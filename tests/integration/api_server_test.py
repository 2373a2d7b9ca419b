"""End-to-end tests of `airlock api-server`: the real binary, configured through the
environment as an operator would, answering real HTTP on a free loopback port.

Covers start-up (migrations, the per-component secrets check, [api] workers, HTTPS with
[api] ssl_cert and ssl_key), the Execution API through `airlock bench heartbeat-fixture`
tokens and a `task-fixture` workload token exchanged on /run, the JWKS document, the audit
log reaching the database, graceful shutdown on SIGTERM under load without losing an
accepted write (on SQLite and on PostgreSQL), and two api-servers sharing one PostgreSQL
database (AIRLOCK_TEST_POSTGRES_URL, provided by scripts/with-postgres.sh).
"""

import base64
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from airlock_testlib import hs512_token, start

BIN = os.environ.get("AIRLOCK_BIN", "")


def claims_of(token):
    """The claims of a JWT, unverified (the server checked the signature)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
POSTGRES_URL = os.environ.get("AIRLOCK_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("AIRLOCK_REQUIRE_POSTGRES") == "1"

SECRET = "k" * 40 + "-api-server-integration-test-secret-" + "z" * 20  # ≥ 64 bytes


def request(url, method="GET", token=None, body=None, timeout=10, context=None):
    """(status, headers, body text) of one HTTP request; HTTP errors are answers too.
    `context`: the ssl.SSLContext for an https URL."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


class ApiServer:
    """A running `airlock api-server --port 0`; its port is read from its first stdout
    line."""

    def __init__(self, env, extra_args=()):
        self.proc = start(
            [BIN, "api-server", "--host", "127.0.0.1", "--port", "0", "--migrate", *extra_args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError("api-server did not start: " + line + err)
        self.base = line.strip().rsplit(" ", 1)[1]

    def stop(self):
        """SIGTERM; returns (exit code, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


class ApiServerTestBase(unittest.TestCase):
    DATABASE_URL = None  # None: SQLite under AIRLOCK_HOME

    def setUp(self):
        self.assertTrue(BIN, "AIRLOCK_BIN is not set")
        self.tmp = tempfile.TemporaryDirectory()
        self.home = self.tmp.name
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__API_AUTH__JWT_SECRET": SECRET,
        }
        if self.DATABASE_URL:
            self.env["AIRLOCK__DATABASE__SQL_ALCHEMY_CONN"] = self.DATABASE_URL
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.kill()
        self.tmp.cleanup()

    def start(self, env=None):
        server = ApiServer(env or self.env)
        self.servers.append(server)
        return server

    def fixture(self, count):
        """[(ti_id, token)] from `airlock bench heartbeat-fixture`."""
        out = os.path.join(self.home, "tokens-%d.txt" % time.monotonic_ns())
        result = subprocess.run(
            [BIN, "bench", "heartbeat-fixture", "--count", str(count), "--tokens-out", out],
            env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        with open(out) as f:
            return [tuple(line.split()) for line in f.read().splitlines()]

    def sigterm_under_load(self, server, clients, send, wanted, enough):
        """Calls send(n, i) -> (status, body, record) in a loop on `clients` threads until
        the server stops accepting, and stops the server (SIGTERM) once `enough` answers
        had status `wanted`, or after 10 s. Returns (exit code, stderr, the records of the
        `wanted` answers, [(status, body)] of the others)."""
        accepted = []
        others = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n):
            i = 0
            while not stop.is_set():
                try:
                    status, body, record = send(n, i)
                except OSError:
                    return  # the server has stopped accepting
                with lock:
                    if status == wanted:
                        accepted.append(record)
                    else:
                        others.append((status, body))
                i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if len(accepted) >= enough:
                    break
            time.sleep(0.01)
        code, err = server.stop()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        return code, err, accepted, others

    def heartbeats_until_sigterm(self):
        """Heartbeats of 8 task instances from 8 clients until at least 200 were answered
        204, then SIGTERM. Heartbeats are answered from the group commit's writer thread,
        after the I/O thread has moved on: SIGTERM must still wait for those answers. Checks
        the exit code 0 and that no heartbeat was answered otherwise; returns [(ti_id, the
        second it was sent)] of the answered ones, for the test to find in its database."""
        server = self.start()
        pairs = self.fixture(8)

        def beat(n, _):
            ti_id, token = pairs[n]
            sent = int(time.time())
            status, _, body = request(
                server.base + "/execution/task-instances/%s/heartbeat" % ti_id, "PUT", token,
                {"hostname": "bench", "pid": 1}, timeout=5)
            return status, body, (ti_id, sent)

        code, err, answered, failures = self.sigterm_under_load(server, 8, beat, 204, 200)
        self.assertEqual(code, 0, err)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len(answered), 200)
        return answered


class ApiServerSqliteTest(ApiServerTestBase):
    def test_heartbeat_with_fixture_tokens(self):
        server = self.start()
        pairs = self.fixture(3)
        self.assertEqual(len(pairs), 3)
        for ti_id, token in pairs:
            status, _, body = request(
                server.base + "/execution/task-instances/%s/heartbeat" % ti_id, "PUT", token,
                {"hostname": "bench", "pid": 1})
            self.assertEqual(status, 204, body)
        # Another instance's token is refused by ti:self.
        status, _, body = request(
            server.base + "/execution/task-instances/%s/heartbeat" % pairs[0][0], "PUT",
            pairs[1][1], {"hostname": "bench", "pid": 1})
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body),
                         {"detail": "Token subject does not match task instance ID"})

    def test_fixture_tokens_are_execution_tokens_for_an_hour(self):
        for ti_id, token in self.fixture(2):
            claims = claims_of(token)
            self.assertEqual(claims["sub"], ti_id)
            self.assertEqual(claims["scope"], "execution")
            self.assertEqual(claims["aud"], "urn:airflow.apache.org:task")
            self.assertEqual(claims["exp"] - claims["iat"], 3600)

    def test_run_exchanges_the_workload_token_for_one_of_jwt_expiration_time(self):
        env = dict(self.env)
        env["AIRLOCK__EXECUTION_API__JWT_EXPIRATION_TIME"] = "300"
        workload_file = os.path.join(self.home, "workload.json")
        made = subprocess.run(
            [BIN, "bench", "task-fixture", "--task", '{"task_id":"t","command":["true"]}',
             "--workload-out", workload_file], env=env, capture_output=True, text=True,
            timeout=60)
        self.assertEqual(made.returncode, 0, made.stderr)
        with open(workload_file) as f:
            workload = json.load(f)
        ti_id = workload["ti"]["id"]
        self.assertEqual(claims_of(workload["token"])["scope"], "workload")
        server = self.start(env)
        url = server.base + "/execution/task-instances/%s/run" % ti_id
        status, headers, body = request(url, "PATCH", workload["token"],
                                        {"hostname": "h", "pid": 7})
        self.assertEqual(status, 200, body)
        claims = claims_of(headers["Refreshed-API-Token"])
        self.assertEqual(claims["scope"], "execution")
        self.assertEqual(claims["sub"], ti_id)
        self.assertEqual(claims["exp"] - claims["iat"], 300)
        # The workload token has done its work: the task instance is no longer queued.
        status, _, body = request(url, "PATCH", workload["token"], {"hostname": "h", "pid": 7})
        self.assertEqual(status, 409, body)

    def test_serves_https_with_ssl_cert_and_key(self):
        cert = os.path.join(self.home, "cert.pem")
        key = os.path.join(self.home, "key.pem")
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(made.returncode, 0, made.stderr)
        env = dict(self.env)
        env["AIRLOCK__API__SSL_CERT"] = cert
        env["AIRLOCK__API__SSL_KEY"] = key
        server = self.start(env)
        self.assertTrue(server.base.startswith("https://127.0.0.1:"), server.base)
        trusting = ssl.create_default_context(cafile=cert)
        status, _, body = request(server.base + "/execution/health", context=trusting)
        self.assertEqual((status, json.loads(body)), (200, {"status": "healthy"}))
        # Plain HTTP is not answered as HTTP on that port.
        with self.assertRaises(Exception):
            request(server.base.replace("https://", "http://") + "/execution/health",
                    timeout=5)

    def test_health_missing_token_and_unknown_route(self):
        server = self.start()
        self.assertEqual(request(server.base + "/execution/health")[0], 200)
        status, _, body = request(server.base + "/execution/variables/x")
        self.assertEqual((status, json.loads(body)), (401, {"detail": "Missing auth token"}))
        self.assertEqual(request(server.base + "/nope")[0], 404)

    def test_jwks_lists_no_secret(self):
        server = self.start()
        status, headers, body = request(server.base + "/.well-known/jwks.json")
        self.assertEqual(status, 200)
        self.assertIn("max-age", headers.get("Cache-Control", ""))
        self.assertEqual(json.loads(body), {"keys": []})  # an HMAC secret is never published
        self.assertNotIn(SECRET, body)

    def test_jwks_publishes_the_public_key(self):
        key = os.path.join(self.home, "signing.pem")
        result = subprocess.run([BIN, "keys", "generate", "--type", "ed25519", "--out", key],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        env = dict(self.env)
        del env["AIRLOCK__API_AUTH__JWT_SECRET"]
        env["AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH"] = key
        server = self.start(env)
        keys = json.loads(request(server.base + "/.well-known/jwks.json")[2])["keys"]
        self.assertEqual(len(keys), 1)
        self.assertEqual(keys[0]["kty"], "OKP")
        self.assertNotIn("d", keys[0])

    def test_refuses_to_start_without_a_signing_key(self):
        env = dict(self.env)
        del env["AIRLOCK__API_AUTH__JWT_SECRET"]
        result = subprocess.run([BIN, "api-server", "--port", "0", "--migrate"], env=env,
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no signing key", result.stderr)

    def test_workers_out_of_range_is_refused_with_the_range(self):
        for workers in ("-1", "257"):
            env = dict(self.env)
            env["AIRLOCK__API__WORKERS"] = workers
            result = subprocess.run([BIN, "api-server", "--port", "0", "--migrate"], env=env,
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn("[api] workers must be from 0 (one thread per CPU core) to 256, not "
                          + workers, result.stderr)

    def test_strict_secrets_refuses_a_secret_the_component_does_not_need(self):
        # heartbeat-fixture starts as the scheduler, which does not need [api] secret_key.
        env = dict(self.env)
        env["AIRLOCK__API__SECRET_KEY"] = "a-secret-only-the-api-server-needs"
        out = os.path.join(self.home, "tokens.txt")
        args = [BIN, "bench", "heartbeat-fixture", "--count", "1", "--tokens-out", out]
        warned = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(warned.returncode, 0, warned.stderr)
        self.assertIn("[api] secret_key", warned.stderr)
        self.assertNotIn("a-secret-only-the-api-server-needs", warned.stderr)
        env["AIRLOCK__CORE__STRICT_SECRETS"] = "True"
        os.unlink(out)
        refused = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("[api] secret_key", refused.stderr)
        self.assertNotIn("a-secret-only-the-api-server-needs", refused.stderr)
        self.assertFalse(os.path.exists(out))

    def test_token_settings_reach_the_execution_api(self):
        """[api_auth] jwt_leeway and jwt_issuer and [execution_api] jwt_audience, set for the
        running api-server, decide what its Execution API accepts: tokens HMAC'd here with the
        same secret, each breaking one of those settings and nothing else."""
        env = dict(self.env)
        env["AIRLOCK__API_AUTH__JWT_LEEWAY"] = "120"
        env["AIRLOCK__API_AUTH__JWT_ISSUER"] = "https://issuer.test"
        env["AIRLOCK__EXECUTION_API__JWT_AUDIENCE"] = "urn:test:execution"
        self.env = env  # the fixture mints with the same settings
        ti_id, fixture_token = self.fixture(1)[0]
        self.assertEqual(claims_of(fixture_token)["iss"], "https://issuer.test")
        self.assertEqual(claims_of(fixture_token)["aud"], "urn:test:execution")
        server = self.start(env)
        url = server.base + "/execution/task-instances/%s/heartbeat" % ti_id
        now = int(time.time())

        def token(**changes):
            claims = {"jti": "j-%d" % time.monotonic_ns(), "sub": ti_id,
                      "aud": "urn:test:execution", "iss": "https://issuer.test",
                      "scope": "execution", "iat": now - 600, "nbf": now - 600, "exp": now + 600}
            claims.update(changes)
            return hs512_token(SECRET.encode(), claims)

        def beat(t):
            status, _, body = request(url, "PUT", t, {"hostname": "bench", "pid": 1})
            return status, body

        self.assertEqual(beat(token())[0], 204)
        # Expired a minute ago: inside a leeway of 120 s (the default 10 s would refuse it).
        self.assertEqual(beat(token(exp=now - 60))[0], 204)
        status, body = beat(token(exp=now - 300))
        self.assertEqual(status, 403, body)
        self.assertIn("expired", json.loads(body)["detail"])
        for changes, reason in (({"iss": "https://other.test"}, "token issuer is not accepted"),
                                ({"aud": "urn:airflow.apache.org:task"},
                                 "token audience is not accepted")):
            status, body = beat(token(**changes))
            self.assertEqual(status, 403, changes)
            self.assertEqual(json.loads(body), {"detail": "Invalid auth token: " + reason})

    def test_requests_the_server_refuses_itself_are_logged_and_audited(self):
        """An oversize body (413) and an unsupported transfer coding (501) are answered by the
        HTTP layer before any route; under /execution they still reach the audit log with
        the token's jti, and every one reaches the access log."""
        server = self.start()
        ti_id, token = self.fixture(1)[0]
        path = "/execution/task-instances/%s/heartbeat" % ti_id
        host, port = server.base.split("//", 1)[1].rsplit(":", 1)
        answers = []
        for extra in ("Content-Length: 999999999", "Transfer-Encoding: gzip"):
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                conn.sendall(("PUT %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
                              "%s\r\n\r\n" % (path, token, extra)).encode())
                answers.append(conn.recv(4096).decode(errors="replace").split(" ", 2)[1])
        self.assertEqual(answers, ["413", "501"])
        code, err = server.stop()  # flushes the audit log
        self.assertEqual(code, 0, err)
        self.assertIn('"PUT %s" 413 refused' % path, err)
        self.assertIn('"PUT %s" 501 refused' % path, err)
        audit = sqlite3.connect(os.path.join(self.home, "airlock.db-audit"))
        rows = audit.execute("SELECT status, jti, sub FROM audit_log WHERE path = ? ORDER BY id",
                             (path,)).fetchall()
        audit.close()
        jti = claims_of(token)["jti"]
        self.assertEqual(rows, [(413, jti, ti_id), (501, jti, ti_id)])

    def test_log_never_contains_the_secret(self):
        server = self.start()
        pairs = self.fixture(1)
        ti_id, token = pairs[0]
        request(server.base + "/execution/task-instances/%s/heartbeat?token=%s" % (ti_id, token),
                "PUT", token, {"hostname": "bench", "pid": 1})
        code, err = server.stop()
        self.assertEqual(code, 0, err)
        self.assertIn("heartbeat", err)  # the access log line is there...
        self.assertNotIn(SECRET, err)    # ...and neither the secret
        self.assertNotIn(token, err)     # nor the token is

    def test_sigterm_under_load_loses_no_accepted_write(self):
        server = self.start()
        pairs = self.fixture(1)
        token = pairs[0][1]

        def write(n, i):
            key = "w%d_%d" % (n, i)
            status, _, body = request(server.base + "/execution/variables/" + key, "PUT",
                                      token, {"value": key}, timeout=5)
            return status, body, key

        code, err, accepted, _ = self.sigterm_under_load(server, 4, write, 201, 50)
        self.assertEqual(code, 0, err)
        self.assertGreaterEqual(len(accepted), 50)
        db = sqlite3.connect(os.path.join(self.home, "airlock.db"))
        stored = {row[0] for row in db.execute("SELECT key FROM variable")}
        missing = [k for k in accepted if k not in stored]
        self.assertEqual(missing, [])
        # Every answered call was audited before exit, with the token's jti. The audit
        # log has a file of its own beside the database (store.h: kAuditFileSuffix).
        audit = sqlite3.connect(os.path.join(self.home, "airlock.db-audit"))
        audited = audit.execute(
            "SELECT COUNT(*) FROM audit_log WHERE path LIKE '/execution/variables/%'").fetchone()[0]
        self.assertGreaterEqual(audited, len(accepted))
        jtis = {row[0] for row in audit.execute("SELECT DISTINCT jti FROM audit_log")}
        self.assertEqual(len(jtis - {""}), 1)

    def test_sigterm_under_load_answers_every_heartbeat_it_accepted(self):
        answered = self.heartbeats_until_sigterm()
        db = sqlite3.connect(os.path.join(self.home, "airlock.db"))
        last = dict(db.execute("SELECT id, last_heartbeat_at FROM task_instance"))
        for ti_id, sent in answered:
            self.assertGreaterEqual(last[ti_id], sent)
        audit = sqlite3.connect(os.path.join(self.home, "airlock.db-audit"))
        audited = audit.execute(
            "SELECT COUNT(*) FROM audit_log WHERE path LIKE '%/heartbeat' AND status = 204"
        ).fetchone()[0]
        self.assertGreaterEqual(audited, len(answered))


@unittest.skipUnless(POSTGRES_URL or REQUIRE_POSTGRES,
                     "AIRLOCK_TEST_POSTGRES_URL not set (run under scripts/with-postgres.sh)")
class ApiServerPostgresTest(ApiServerTestBase):
    DATABASE_URL = POSTGRES_URL

    def setUp(self):
        self.assertTrue(POSTGRES_URL, "AIRLOCK_REQUIRE_POSTGRES=1 but no PostgreSQL URL")
        super().setUp()

    def psql(self, sql):
        """Rows of one query, as lists of text, through Debian's psql."""
        result = subprocess.run(["psql", POSTGRES_URL, "-At", "-F", "\t", "-c", sql],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return [line.split("\t") for line in result.stdout.splitlines()]

    def test_sigterm_under_load_answers_every_heartbeat_it_accepted(self):
        answered = self.heartbeats_until_sigterm()
        ti_ids = sorted({ti_id for ti_id, _ in answered})
        ids = ", ".join("'%s'" % ti_id for ti_id in ti_ids)
        last = {row[0]: int(row[1]) for row in self.psql(
            "SELECT id, last_heartbeat_at FROM task_instance WHERE id IN (%s)" % ids)}
        for ti_id, sent in answered:
            self.assertGreaterEqual(last[ti_id], sent)
        paths = ", ".join("'/execution/task-instances/%s/heartbeat'" % ti_id for ti_id in ti_ids)
        audited = int(self.psql(
            "SELECT COUNT(*) FROM audit_log WHERE status = 204 AND path IN (%s)" % paths)[0][0])
        self.assertGreaterEqual(audited, len(answered))

    def test_two_api_servers_share_one_database(self):
        first, second = self.start(), self.start()
        pairs = self.fixture(2)
        for server in (first, second):
            for ti_id, token in pairs:
                status, _, body = request(
                    server.base + "/execution/task-instances/%s/heartbeat" % ti_id, "PUT", token,
                    {"hostname": "bench", "pid": 1})
                self.assertEqual(status, 204, body)
        # A variable written through one is read through the other.
        token = pairs[0][1]
        self.assertEqual(request(first.base + "/execution/variables/shared", "PUT", token,
                                 {"value": "42"})[0], 201)
        status, _, body = request(second.base + "/execution/variables/shared", "GET", token)
        self.assertEqual((status, json.loads(body)["value"]), (200, "42"))
        # A task finished through one is dead on the other at once.
        ti_id = pairs[1][0]
        status, _, _ = request(first.base + "/execution/task-instances/%s/state" % ti_id,
                               "PATCH", pairs[1][1], {"state": "success"})
        self.assertEqual(status, 204)
        status, _, body = request(second.base + "/execution/task-instances/%s/heartbeat" % ti_id,
                                  "PUT", pairs[1][1], {"hostname": "bench", "pid": 1})
        self.assertEqual(status, 409)
        self.assertEqual(json.loads(body)["detail"]["reason"], "not_running")
        for server in (first, second):
            self.assertEqual(server.stop()[0], 0)


if __name__ == "__main__":
    unittest.main()
