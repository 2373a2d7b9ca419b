"""End-to-end tests of the REST API's authentication (SPEC §3) with the real binary:
`airlock api-server` on a free loopback port, configured through the environment, and
`airlock users …` on the same database.

Covers the first admin's generated password (printed once on stdout, never logged), every
status/message pair of SPEC §3, REST claims and the CLI token's 3600 s lifetime, header
beats cookie, the UI login cookie, logout revoking a token on a second api-server sharing
the database (SQLite file; PostgreSQL too when AIRLOCK_TEST_POSTGRES_URL is set), failed
login limits, the users CLI, and that no password ever shows up in a log or a response.
"""

import json
import os
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from airlock_testlib import hs512_token, split_token
from api_server_test import SECRET, ApiServer

BIN = os.environ.get("AIRLOCK_BIN", "")
POSTGRES_URL = os.environ.get("AIRLOCK_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("AIRLOCK_REQUIRE_POSTGRES") == "1"
AUDIENCE = "urn:airlock:api"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(url, method="GET", json_body=None, form=None, headers=None):
    """(status, headers, body text); HTTP errors and redirects are answers too."""
    data = None
    req_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        req_headers["Content-Type"] = "application/json"
    elif form is not None:
        data = form.encode()
        req_headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=req_headers)
    try:
        with OPENER.open(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def bearer(token):
    return {"Authorization": "Bearer " + token}


def cookie(token):
    return {"Cookie": "_token=" + token}


class RestApiTestBase(unittest.TestCase):
    DATABASE_URL = None  # None: SQLite under AIRLOCK_HOME

    def setUp(self):
        self.assertTrue(BIN, "AIRLOCK_BIN is not set")
        import tempfile
        self.tmp = tempfile.TemporaryDirectory()
        self.home = self.tmp.name
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__API_AUTH__JWT_SECRET": SECRET,
            "AIRLOCK__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:ADMIN,viewer:VIEWER",
        }
        if self.DATABASE_URL:
            self.env["AIRLOCK__DATABASE__SQL_ALCHEMY_CONN"] = self.DATABASE_URL
        self.servers = []
        self.outputs = []  # every stdout/stderr text seen, checked for passwords at the end
        self.passwords = []

    def tearDown(self):
        for server in self.servers:
            server.kill()
        self.tmp.cleanup()

    def start(self):
        server = ApiServer(self.env)
        self.servers.append(server)
        return server

    def read_generated(self, server, count):
        """{user: password} from the lines after "listening on"."""
        generated = {}
        for _ in range(count):
            line = server.proc.stdout.readline().strip()
            prefix = "Simple auth manager | Password for user '"
            self.assertTrue(line.startswith(prefix), line)
            name, password = line[len(prefix):].split("': ", 1)
            generated[name] = password
            self.passwords.append(password)
        return generated

    def stop_all(self):
        for server in self.servers:
            if server.proc.poll() is None:
                code, err = server.stop()
                self.assertEqual(code, 0, err)
                self.outputs.append(err)

    def login(self, server, user, password, path="/auth/token"):
        status, _, body = call(server.base + path, "POST", {"username": user, "password": password})
        self.assertEqual(status, 201, body)
        self.outputs.append(body)
        return json.loads(body)["access_token"]

    def users(self, *args, stdin=None):
        result = subprocess.run([BIN, "users", *args], env=self.env, input=stdin,
                                capture_output=True, text=True, timeout=120)
        self.outputs.append(result.stderr)
        return result


class RestApiSqliteTest(RestApiTestBase):
    def test_token_settings_reach_the_rest_api(self):
        """[api_auth] jwt_audience, jwt_issuer and jwt_leeway, set for the running api-server,
        decide the claims of the tokens it mints and what it accepts: tokens HMAC'd here with
        the same secret, each breaking one setting and nothing else."""
        self.env["AIRLOCK__API_AUTH__JWT_AUDIENCE"] = "urn:test:rest"
        self.env["AIRLOCK__API_AUTH__JWT_ISSUER"] = "https://issuer.test"
        self.env["AIRLOCK__API_AUTH__JWT_LEEWAY"] = "120"
        server = self.start()
        generated = self.read_generated(server, 2)
        minted = self.login(server, "admin", generated["admin"])
        _, claims, _ = split_token(minted)
        self.assertEqual(claims["aud"], "urn:test:rest")
        self.assertEqual(claims["iss"], "https://issuer.test")
        now = int(time.time())

        # Issued no earlier than now: a user refuses the tokens issued before its creation.
        def status_of(**changes):
            claims = {"jti": "%032x" % time.monotonic_ns(), "sub": "admin", "role": "ADMIN",
                      "aud": "urn:test:rest", "iss": "https://issuer.test",
                      "iat": now, "nbf": now, "exp": now + 600}
            claims.update(changes)
            token = hs512_token(SECRET.encode(), claims)
            return call(server.base + "/api/v2/dags", headers=bearer(token))[0]

        self.assertEqual(status_of(), 200)
        # Issued a minute ahead of this clock: inside a leeway of 120 s (the default 10 s
        # would refuse it), and not five minutes ahead.
        self.assertEqual(status_of(iat=now + 60, nbf=now + 60), 200)
        self.assertEqual(status_of(iat=now + 300, nbf=now + 300), 403)
        self.assertEqual(status_of(iss="https://other.test"), 403)
        self.assertEqual(status_of(aud=AUDIENCE), 403)  # the default audience, not this one

    def test_first_start_prints_passwords_once_and_never_logs_them(self):
        server = self.start()
        generated = self.read_generated(server, 2)
        self.assertEqual(set(generated), {"admin", "viewer"})
        self.assertGreaterEqual(len(generated["admin"]), 16)
        token = self.login(server, "admin", generated["admin"])
        self.stop_all()
        # Second start on the same database: the users exist, nothing is printed.
        again = self.start()
        status, _, body = call(again.base + "/api/v2/users", headers=bearer(token))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["total_entries"], 2)
        again.proc.send_signal(signal.SIGTERM)
        out, err = again.proc.communicate(timeout=30)
        self.assertEqual(again.proc.returncode, 0, err)
        self.assertEqual(out, "")
        self.outputs.append(err)
        for text in self.outputs:
            for password in self.passwords:
                self.assertNotIn(password, text)

    def test_spec_status_and_message_pairs(self):
        server = self.start()
        pw = self.read_generated(server, 2)
        base = server.base
        # 201 with access_token, JSON and form bodies.
        token = self.login(server, "admin", pw["admin"])
        status, _, body = call(base + "/auth/token", "POST",
                               form="username=viewer&password=" + pw["viewer"])
        self.assertEqual(status, 201, body)
        # 400 for a missing field.
        for bad in ({"username": "admin"}, {"password": "x"}, {}):
            status, _, body = call(base + "/auth/token", "POST", bad)
            self.assertEqual((status, json.loads(body)),
                             (400, {"detail": "Username and password must be provided"}))
        # 401 for wrong credentials, identical for an unknown user.
        wrong = call(base + "/auth/token", "POST", {"username": "admin", "password": "nope"})
        unknown = call(base + "/auth/token", "POST", {"username": "ghost", "password": "nope"})
        self.assertEqual((wrong[0], json.loads(wrong[2])), (401, {"detail": "Invalid credentials"}))
        self.assertEqual((unknown[0], unknown[2]), (wrong[0], wrong[2]))
        # 401 Not authenticated; a query-string token is not read.
        for url in (base + "/api/v2/dags", base + "/api/v2/dags?token=" + token):
            status, _, body = call(url)
            self.assertEqual((status, json.loads(body)), (401, {"detail": "Not authenticated"}))
        # 401 Token Expired: a correctly signed token whose exp is past the leeway.
        now = int(time.time())
        claims = {"jti": "a" * 32, "aud": AUDIENCE, "sub": "admin", "role": "ADMIN",
                  "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
        expired = hs512_token(SECRET.encode(), claims)
        status, _, body = call(base + "/api/v2/dags", headers=bearer(expired))
        self.assertEqual((status, json.loads(body)), (401, {"detail": "Token Expired"}))
        # 403 Invalid JWT token: tampered, wrong audience, an execution-API token.
        claims.update(exp=now + 3600)
        for bad in (token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
                    hs512_token(SECRET.encode(), dict(claims, aud="urn:airflow.apache.org:task")),
                    hs512_token(b"x" * 64, claims)):
            status, _, body = call(base + "/api/v2/dags", headers=bearer(bad))
            self.assertEqual((status, json.loads(body)), (403, {"detail": "Invalid JWT token"}))
        # The valid token works; a viewer's lacks the ADMIN role.
        self.assertEqual(call(base + "/api/v2/dags", headers=bearer(token))[0], 200)
        viewer = self.login(server, "viewer", pw["viewer"])
        status, _, body = call(base + "/api/v2/auditLog", headers=bearer(viewer))
        self.assertEqual((status, json.loads(body)), (403, {"detail": "Forbidden"}))

    def test_claims_and_cli_token_lifetime(self):
        server = self.start()
        pw = self.read_generated(server, 2)
        rest = split_token(self.login(server, "admin", pw["admin"]))[1]
        cli = split_token(self.login(server, "admin", pw["admin"], "/auth/token/cli"))[1]
        self.assertEqual(set(rest), {"jti", "aud", "sub", "role", "iat", "nbf", "exp"})
        self.assertEqual((rest["sub"], rest["role"], rest["aud"]), ("admin", "ADMIN", AUDIENCE))
        self.assertEqual(rest["nbf"], rest["iat"])
        self.assertEqual(rest["exp"] - rest["iat"], 86400)
        self.assertEqual(cli["exp"] - cli["iat"], 3600)
        self.assertEqual(len(rest["jti"]), 32)
        self.assertNotEqual(rest["jti"], cli["jti"])

    def test_header_beats_cookie_and_ui_cookie(self):
        server = self.start()
        pw = self.read_generated(server, 2)
        base = server.base
        status, headers, body = call(base + "/auth/login", "POST",
                                     {"username": "admin", "password": pw["admin"]})
        self.assertEqual(status, 204, body)
        set_cookie = headers["Set-Cookie"]
        for attribute in ("HttpOnly", "SameSite=Lax", "Path=/"):
            self.assertIn(attribute, set_cookie)
        self.assertNotIn("Secure", set_cookie)
        admin_cookie = set_cookie.split(";")[0].split("=", 1)[1]
        viewer = self.login(server, "viewer", pw["viewer"])
        self.assertEqual(call(base + "/api/v2/auditLog", headers=cookie(admin_cookie))[0], 200)
        both = dict(bearer(viewer), **cookie(admin_cookie))
        self.assertEqual(call(base + "/api/v2/auditLog", headers=both)[0], 403)
        bad_header = dict(bearer("not-a-token"), **cookie(admin_cookie))
        status, _, body = call(base + "/api/v2/dags", headers=bad_header)
        self.assertEqual((status, json.loads(body)), (403, {"detail": "Invalid JWT token"}))
        # The dashboard needs the cookie.
        self.assertEqual(call(base + "/")[0], 303)
        self.assertEqual(call(base + "/", headers=cookie(admin_cookie))[0], 200)
        # UI logout revokes the cookie's token.
        status, headers, _ = call(base + "/auth/logout", headers=cookie(admin_cookie))
        self.assertEqual((status, headers["Location"]), (303, "/login"))
        status, _, body = call(base + "/api/v2/dags", headers=cookie(admin_cookie))
        self.assertEqual((status, json.loads(body)), (403, {"detail": "Invalid JWT token"}))

    def test_failed_logins_are_limited(self):
        self.env["AIRLOCK__API_AUTH__LOGIN_MAX_FAILURES_PER_USER"] = "2"
        server = self.start()
        pw = self.read_generated(server, 2)
        for _ in range(2):
            self.assertEqual(call(server.base + "/auth/token", "POST",
                                  {"username": "admin", "password": "x"})[0], 401)
        status, headers, body = call(server.base + "/auth/token", "POST",
                                     {"username": "admin", "password": pw["admin"]})
        self.assertEqual(status, 429, body)
        self.assertTrue(int(headers["Retry-After"]) > 0)
        # Another user is not affected.
        self.login(server, "viewer", pw["viewer"])

    def test_users_cli(self):
        server = self.start()
        pw = self.read_generated(server, 2)
        created = self.users("create", "--username", "olga", "--role", "op", "--password-stdin",
                             stdin="olga-secret-password\n")
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertNotIn("olga-secret-password", created.stdout)
        self.passwords.append("olga-secret-password")
        token = self.login(server, "olga", "olga-secret-password")
        self.assertEqual(split_token(token)[1]["role"], "OP")
        self.assertEqual(call(server.base + "/api/v2/variables", headers=bearer(token))[0], 200)
        generated = self.users("create", "--username", "gen", "--role", "USER")
        self.assertEqual(generated.returncode, 0, generated.stderr)
        gen_pw = generated.stdout.strip().rsplit(": ", 1)[1]
        self.passwords.append(gen_pw)
        self.login(server, "gen", gen_pw)
        self.assertEqual(self.users("create", "--username", "olga", "--role", "OP",
                                    "--password-stdin", stdin="x\n").returncode, 1)
        self.assertEqual(self.users("create", "--username", "x", "--role", "ROOT").returncode, 2)
        listed = self.users("list")
        self.assertEqual(listed.stdout.splitlines(),
                         ["admin\tADMIN", "gen\tUSER", "olga\tOP", "viewer\tVIEWER"])
        # Tokens are dated to the second: the password change refuses the tokens of the
        # seconds before it.
        time.sleep(1.1)
        changed = self.users("set-password", "--username", "olga", "--password-stdin",
                             stdin="olga-new-password\n")
        self.assertEqual(changed.returncode, 0, changed.stderr)
        self.assertIn("no longer accepted", changed.stdout)
        self.passwords.append("olga-new-password")
        self.assertEqual(call(server.base + "/auth/token", "POST",
                              {"username": "olga", "password": "olga-secret-password"})[0], 401)
        # The token issued before the change is refused; one issued after it is accepted.
        self.assertEqual(call(server.base + "/api/v2/dags", headers=bearer(token))[0], 403)
        token = self.login(server, "olga", "olga-new-password")
        self.assertEqual(call(server.base + "/api/v2/variables", headers=bearer(token))[0], 200)
        self.assertEqual(self.users("delete", "--username", "olga").returncode, 0)
        # A deleted user's token is refused at once.
        self.assertEqual(call(server.base + "/api/v2/dags", headers=bearer(token))[0], 403)
        self.assertEqual(self.users("delete", "--username", "olga").returncode, 1)
        self.stop_all()
        for text in self.outputs:
            for password in self.passwords + list(pw.values()):
                self.assertNotIn(password, text)

    def test_logout_revokes_on_every_api_server(self):
        first = self.start()
        pw = self.read_generated(first, 2)
        second = self.start()
        token = self.login(first, "viewer", pw["viewer"])
        for server in (first, second):
            self.assertEqual(call(server.base + "/api/v2/dags", headers=bearer(token))[0], 200)
        status, _, _ = call(second.base + "/auth/logout", "POST", headers=bearer(token))
        self.assertEqual(status, 204)
        for server in (first, second):
            status, _, body = call(server.base + "/api/v2/dags", headers=bearer(token))
            self.assertEqual((status, json.loads(body)), (403, {"detail": "Invalid JWT token"}))


@unittest.skipUnless(POSTGRES_URL or REQUIRE_POSTGRES, "AIRLOCK_TEST_POSTGRES_URL is not set")
class RestApiPostgresTest(RestApiTestBase):
    """Two api-servers on one PostgreSQL database. Other tests share the database, so this
    one works with a user name of its own and touches no one else's rows."""

    def setUp(self):
        if REQUIRE_POSTGRES and not POSTGRES_URL:
            self.fail("AIRLOCK_REQUIRE_POSTGRES=1 but AIRLOCK_TEST_POSTGRES_URL is not set")
        self.DATABASE_URL = POSTGRES_URL
        super().setUp()
        self.user = "pg-viewer-%d-%d" % (os.getpid(), time.monotonic_ns())
        self.env["AIRLOCK__CORE__SIMPLE_AUTH_MANAGER_USERS"] = self.user + ":VIEWER"

    def test_logout_revokes_on_every_api_server(self):
        first = self.start()
        password = self.read_generated(first, 1)[self.user]
        second = self.start()
        token = self.login(first, self.user, password)
        for server in (first, second):
            self.assertEqual(call(server.base + "/api/v2/dags", headers=bearer(token))[0], 200)
        self.assertEqual(call(second.base + "/auth/logout", "POST", headers=bearer(token))[0], 204)
        for server in (first, second):
            status, _, body = call(server.base + "/api/v2/dags", headers=bearer(token))
            self.assertEqual((status, json.loads(body)), (403, {"detail": "Invalid JWT token"}))


if __name__ == "__main__":
    unittest.main()
