"""End-to-end tests of the signing keys of a running `airlock api-server` (SPEC §2):

- key rotation without a restart: [api_auth] jwt_private_key_path names a key directory
  made by `airlock keys rotate --dir`; after another `keys rotate`, the same process keeps
  accepting the old token, signs new logins with the new active key and publishes the new
  set on /.well-known/jwks.json;
- [api_auth] jwt_algorithm applies to trusted_jwks_url keys without "alg" (RS512);
- HS512 tokens carry no kid even with [api_auth] jwt_kid set, and still validate.
"""

import json
import os
import subprocess
import time
import unittest

from airlock_testlib import hs512_token, public_jwk_from_pem, split_token
from api_server_test import SECRET, ApiServer
from rest_api_test import RestApiTestBase, bearer, call

BIN = os.environ.get("AIRLOCK_BIN", "")

# The api-server checks its key directory's manifest every 5 s
# (jwt::kKeyDirectoryPollInterval); a deadline well beyond that, for a loaded machine.
RELOAD_DEADLINE_SECONDS = 60


class KeyRotationTest(RestApiTestBase):
    def setUp(self):
        super().setUp()
        # Each test names the keys it signs with; one user, the admin.
        del self.env["AIRLOCK__API_AUTH__JWT_SECRET"]
        self.env["AIRLOCK__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:ADMIN"

    def airlock(self, *args):
        result = subprocess.run([BIN, *args], env=self.env, capture_output=True, text=True,
                                timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def rotate(self, key_dir, *args):
        """{state: kid} after one `airlock keys rotate` step (retired: the newest)."""
        states = {}
        for line in self.airlock("keys", "rotate", "--dir", key_dir, *args).splitlines():
            kid, state, _alg = line.split()
            states.setdefault(state, kid)
        return states

    def start(self, env):
        """The api-server started on `env`, and the admin's generated password."""
        server = ApiServer(env)
        self.servers.append(server)
        return server, self.read_generated(server, 1)["admin"]

    def authorized(self, server, token):
        status, _, body = call(server.base + "/api/v2/dags", headers=bearer(token))
        return status, body

    def jwks_kids(self, server):
        status, _, body = call(server.base + "/.well-known/jwks.json")
        self.assertEqual(status, 200, body)
        keys = json.loads(body)["keys"]
        for key in keys:
            self.assertNotIn("d", key)
        return {key["kid"] for key in keys}

    def test_rotation_without_restart(self):
        key_dir = os.path.join(self.home, "jwt-keys")
        first = self.rotate(key_dir)
        env = dict(self.env, AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH=key_dir)
        server, password = self.start(env)
        pid = server.proc.pid

        old_token = self.login(server, "admin", password)
        self.assertEqual(split_token(old_token)[0]["kid"], first["active"])
        self.assertEqual(self.authorized(server, old_token)[0], 200)
        self.assertEqual(self.jwks_kids(server), {first["active"], first["next"]})

        second = self.rotate(key_dir)
        self.assertEqual(second["active"], first["next"])
        self.assertEqual(second["retired"], first["active"])
        wanted = {second["active"], second["next"], second["retired"]}
        deadline = time.monotonic() + RELOAD_DEADLINE_SECONDS
        while self.jwks_kids(server) != wanted and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.jwks_kids(server), wanted)

        # Same process, no restart.
        self.assertIsNone(server.proc.poll())
        self.assertEqual(server.proc.pid, pid)
        status, body = self.authorized(server, old_token)
        self.assertEqual(status, 200, "the retired key's token still validates: " + body)
        new_token = self.login(server, "admin", password)
        self.assertEqual(split_token(new_token)[0]["kid"], second["active"])
        self.assertEqual(self.authorized(server, new_token)[0], 200)

        # One more rotation drops the first key (--keep-retired 1): its token is refused.
        third = self.rotate(key_dir)
        deadline = time.monotonic() + RELOAD_DEADLINE_SECONDS
        while first["active"] in self.jwks_kids(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertNotIn(first["active"], self.jwks_kids(server))
        self.assertEqual(self.authorized(server, old_token)[0], 403)
        self.assertEqual(self.authorized(server, new_token)[0], 200)
        self.assertEqual(split_token(self.login(server, "admin", password))[0]["kid"], third["active"])

        code, err = server.stop()
        self.assertEqual(code, 0, err)

    def test_broken_key_directory_keeps_the_last_good_keys(self):
        key_dir = os.path.join(self.home, "jwt-keys")
        first = self.rotate(key_dir)
        env = dict(self.env, AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH=key_dir)
        server, password = self.start(env)
        token = self.login(server, "admin", password)
        with open(os.path.join(key_dir, "keys.json"), "w") as f:
            f.write("{broken")
        # A token naming an unknown kid makes the server reload at once (the first such
        # reload is not rate-limited), rather than this test waiting for the poller.
        forged = hs512_token(b"x" * 64, split_token(token)[1],
                             header={"alg": "EdDSA", "kid": "no-such-key", "typ": "JWT"})
        self.assertEqual(self.authorized(server, forged)[0], 403)
        self.assertEqual(self.authorized(server, token)[0], 200)
        self.assertEqual(split_token(self.login(server, "admin", password))[0]["kid"], first["active"])
        self.assertEqual(self.jwks_kids(server), {first["active"], first["next"]})
        code, err = server.stop()
        self.assertEqual(code, 0, err)
        self.assertIn("reloading the keys failed, the previous keys stay in use", err)
        self.assertEqual(err.count("reloading the keys failed"), 1, err)
        self.assertNotIn("PRIVATE KEY", err)

    def test_directory_without_manifest_is_refused(self):
        empty = os.path.join(self.home, "empty")
        os.mkdir(empty)
        env = dict(self.env, AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH=empty)
        result = subprocess.run([BIN, "api-server", "--port", "0", "--migrate"], env=env,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("keys.json", result.stderr)
        self.assertIn("keys rotate", result.stderr)

    def test_jwt_algorithm_applies_to_trusted_jwks_keys_without_alg(self):
        key = os.path.join(self.home, "rsa.pem")
        self.airlock("keys", "generate", "--type", "rsa", "--out", key)
        with open(key, "rb") as f:
            jwk = public_jwk_from_pem(f.read())
        jwk.pop("alg", None)
        jwks = os.path.join(self.home, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [jwk]}, f)
        env = dict(self.env, AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH=key,
                   AIRLOCK__API_AUTH__JWT_ALGORITHM="RS512",
                   AIRLOCK__API_AUTH__TRUSTED_JWKS_URL=jwks)
        server, password = self.start(env)
        token = self.login(server, "admin", password)
        self.assertEqual(split_token(token)[0]["alg"], "RS512")
        status, body = self.authorized(server, token)
        self.assertEqual(status, 200, body)
        status, _, body = call(server.base + "/.well-known/jwks.json")
        self.assertEqual([k["alg"] for k in json.loads(body)["keys"]], ["RS512"])

    def test_hs512_tokens_carry_no_kid_even_with_jwt_kid(self):
        env = dict(self.env, AIRLOCK__API_AUTH__JWT_SECRET=SECRET,
                   AIRLOCK__API_AUTH__JWT_KID="hs-key-1")
        server, password = self.start(env)
        token = self.login(server, "admin", password)
        self.assertEqual(split_token(token)[0], {"alg": "HS512", "typ": "JWT"})
        status, body = self.authorized(server, token)
        self.assertEqual(status, 200, body)


if __name__ == "__main__":
    unittest.main()
