"""Interoperability with PyJWT (Debian's python3-jwt, what Airflow uses), in both
directions, for HS512, RS256, RS512 and EdDSA, driven through the airlock CLI (SPEC §2).

  PyJWT → airlock: tokens jwt.encode() signs verify with `airlock token verify` (exit 0,
                   the same claims), through --key/--secret-file and --jwks (file and URL).
  airlock → PyJWT: tokens `airlock token mint` signs verify with jwt.decode(...,
                   algorithms=[...], audience=...), with the PEM key and with the JWK that
                   `airlock keys jwks` publishes.
And a PyJWT token whose alg does not match the airlock key is refused by airlock.
"""

import json
import os
import unittest

import jwt
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from airlock_testlib import (
    EXIT_FAILURE,
    AirlockTestCase,
    JwksServer,
    now,
    public_pem_from_pem,
    run,
    split_token,
)

AUD = "urn:airflow.apache.org:task"
ISS = "airlock-interop"


class InteropTestCase(AirlockTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.class_dir
        cls.keys = {}
        for alg, key_type in (("HS512", "secret"), ("RS256", "rsa"), ("EdDSA", "ed25519")):
            path = os.path.join(d, key_type)
            result = run("keys", "generate", "--type", key_type, "--out", path)
            assert result.returncode == 0, result.stderr
            with open(path, "rb") as f:
                data = f.read()
            key = {"file": path, "flag": "--secret-file" if alg == "HS512" else "--key"}
            if alg == "HS512":
                # As in Airflow, the HMAC key is the secret text's bytes.
                key["sign"] = key["verify"] = data
                key["kid"] = None
            else:
                key["sign"] = data
                key["verify"] = public_pem_from_pem(data)
                key["kid"] = result.stdout.strip()
            cls.keys[alg] = key
        cls.jwks_text = run("keys", "jwks", cls.keys["RS256"]["file"], cls.keys["EdDSA"]["file"]).stdout
        cls.jwks_file = os.path.join(d, "jwks.json")
        with open(cls.jwks_file, "w") as f:
            f.write(cls.jwks_text)

    def payload(self, **extra):
        t = now()
        claims = {
            "jti": "6f1c2e0a9b8d4c7e8f0a1b2c3d4e5f60",
            "iss": ISS,
            "aud": AUD,
            "sub": "ti:3f2a",
            "scope": "execution",
            "iat": t,
            "nbf": t,
            "exp": t + 600,
            "ti": {"dag_id": "d", "try_number": 1, "map_index": -1},
        }
        claims.update(extra)
        return claims

    def pyjwt_token(self, alg, claims=None, headers=None, sign_alg=None, key=None):
        if key is None:
            key = self.keys[alg]["sign"]
        return jwt.encode(claims or self.payload(), key, algorithm=sign_alg or alg, headers=headers)

    def airlock_verify(self, token, *args):
        return run("token", "verify", *args, "--aud", AUD, "--iss", ISS, token)

    def assertAirlockAccepts(self, result, claims):
        self.assertSucceeds(result)
        self.assertEqual(result.stderr, "")
        self.assertEqual(result.stdout.count("\n"), 1)
        self.assertEqual(json.loads(result.stdout), claims)

    def assertAirlockRejects(self, result, token, reason):
        self.assertFailsWithOneLine(result, EXIT_FAILURE, reason, secrets=[token, token.split(".")[2]])

    def airlock_mint(self, alg, *args):
        key = self.keys[alg]
        result = run("token", "mint", key["flag"], key["file"], "--aud", AUD, "--iss", ISS,
                     "--sub", "ti:3f2a", "--scope", "execution", *args)
        self.assertSucceeds(result)
        return result.stdout.strip()

    def pyjwt_decode(self, token, alg, key=None, audience=AUD):
        return jwt.decode(
            token,
            self.keys[alg]["verify"] if key is None else key,
            algorithms=[alg],
            audience=audience,
            issuer=ISS,
            options={"require": ["exp", "iat", "aud", "iss", "sub", "jti"]},
        )


class PyJwtToAirlockTest(InteropTestCase):
    def test_pyjwt_tokens_verify_with_the_key(self):
        for alg in ("HS512", "RS256", "EdDSA"):
            key = self.keys[alg]
            for headers in (None, {"kid": key["kid"]} if key["kid"] else None):
                with self.subTest(alg=alg, kid=bool(headers)):
                    claims = self.payload()
                    token = self.pyjwt_token(alg, claims, headers)
                    result = self.airlock_verify(token, key["flag"], key["file"])
                    self.assertAirlockAccepts(result, claims)

    def test_pyjwt_rs512_tokens_verify_in_airlock(self):
        rsa = self.keys["RS256"]
        pub = self.write("rsa512.pub", rsa["verify"])
        # A JWKS without "alg" (as many identity providers publish it): one --alg pins it.
        jwk = dict(json.loads(self.jwks_text)["keys"][0])
        self.assertEqual(jwk["kid"], rsa["kid"])
        jwk.pop("alg")
        bare_jwks = self.write("rsa512-jwks.json", json.dumps({"keys": [jwk]}))
        for headers, args in (
            (None, ("--key", rsa["file"], "--alg", "RS512")),
            ({"kid": rsa["kid"]}, ("--key", rsa["file"], "--alg", "RS512")),
            ({"kid": rsa["kid"]}, ("--key", pub, "--alg", "RS512")),
            ({"kid": rsa["kid"]}, ("--jwks", bare_jwks, "--alg", "RS512")),
        ):
            with self.subTest(kid=bool(headers), args=args[0]):
                claims = self.payload()
                token = self.pyjwt_token("RS256", claims, headers, sign_alg="RS512")
                self.assertEqual(split_token(token)[0]["alg"], "RS512")
                self.assertAirlockAccepts(self.airlock_verify(token, *args), claims)
        # Not vacuous: the RS256-guessed key refuses it.
        token = self.pyjwt_token("RS256", headers={"kid": rsa["kid"]}, sign_alg="RS512")
        self.assertAirlockRejects(self.airlock_verify(token, "--jwks", bare_jwks), token,
                                  "does not match its key")

    def test_pyjwt_asymmetric_tokens_verify_with_the_public_key(self):
        for alg in ("RS256", "EdDSA"):
            with self.subTest(alg=alg):
                pub = self.write(alg + ".pub", self.keys[alg]["verify"])
                claims = self.payload()
                token = self.pyjwt_token(alg, claims, {"kid": self.keys[alg]["kid"]})
                self.assertAirlockAccepts(self.airlock_verify(token, "--key", pub), claims)

    def test_pyjwt_tokens_verify_with_airlocks_jwks_file_and_url(self):
        with JwksServer(self.jwks_text.encode()) as server:
            for alg in ("RS256", "EdDSA"):
                for source in (self.jwks_file, server.url + "/.well-known/jwks.json"):
                    with self.subTest(alg=alg, source=source.split(":")[0]):
                        claims = self.payload()
                        token = self.pyjwt_token(alg, claims, {"kid": self.keys[alg]["kid"]})
                        result = self.airlock_verify(token, "--jwks", source, "--alg", alg)
                        self.assertAirlockAccepts(result, claims)

    def test_pyjwt_token_with_audience_array_and_datetime_claims(self):
        import datetime

        t = datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)
        claims = self.payload(aud=["other", AUD], iat=t, nbf=t, exp=t + datetime.timedelta(minutes=5))
        for alg in ("HS512", "RS256", "EdDSA"):
            with self.subTest(alg=alg):
                token = self.pyjwt_token(alg, claims)
                result = self.airlock_verify(token, self.keys[alg]["flag"], self.keys[alg]["file"])
                self.assertSucceeds(result)
                self.assertEqual(json.loads(result.stdout), jwt.decode(token, options={"verify_signature": False}))

    def test_pyjwt_secret_key_is_the_text_without_the_dropped_newline(self):
        with open(self.keys["HS512"]["file"]) as f:
            secret = f.read()
        with_newline = self.write("secret-nl", secret + "\n")
        claims = self.payload()
        token = self.pyjwt_token("HS512", claims, key=secret)
        self.assertAirlockAccepts(self.airlock_verify(token, "--secret-file", with_newline), claims)

    def test_pyjwt_expired_token_is_rejected(self):
        t = now()
        for alg in ("HS512", "RS256", "EdDSA"):
            with self.subTest(alg=alg):
                token = self.pyjwt_token(alg, self.payload(iat=t - 3600, nbf=t - 3600, exp=t - 60))
                result = self.airlock_verify(token, self.keys[alg]["flag"], self.keys[alg]["file"])
                self.assertAirlockRejects(result, token, "expired")

    def test_pyjwt_token_whose_alg_does_not_match_the_key_is_rejected(self):
        rsa, ed, hs = self.keys["RS256"], self.keys["EdDSA"], self.keys["HS512"]
        cases = [
            # (what, token, airlock key flag, file, expected reason)
            ("RS512 with the RS256-pinned RSA key",
             self.pyjwt_token("RS256", sign_alg="RS512"), rsa["flag"], rsa["file"], "does not match its key"),
            ("RS512 with kid, RS256-pinned key",
             self.pyjwt_token("RS256", headers={"kid": rsa["kid"]}, sign_alg="RS512"),
             rsa["flag"], rsa["file"], "does not match its key"),
            ("HS512 token against an RSA key",
             self.pyjwt_token("HS512"), rsa["flag"], rsa["file"], "does not match its key"),
            ("HS512 token against an Ed25519 key",
             self.pyjwt_token("HS512"), ed["flag"], ed["file"], "does not match its key"),
            ("EdDSA token against an RSA key",
             self.pyjwt_token("EdDSA"), rsa["flag"], rsa["file"], "does not match its key"),
            ("RS256 token against a secret",
             self.pyjwt_token("RS256"), hs["flag"], hs["file"], "does not match its key"),
            ("HS256 with the right secret",
             self.pyjwt_token("HS512", sign_alg="HS256"), hs["flag"], hs["file"], "not accepted"),
            ("HS384 with the right secret",
             self.pyjwt_token("HS512", sign_alg="HS384"), hs["flag"], hs["file"], "not accepted"),
            ("PS256 with the right RSA key",
             self.pyjwt_token("RS256", sign_alg="PS256"), rsa["flag"], rsa["file"], "not accepted"),
            ("RS384 with the right RSA key",
             self.pyjwt_token("RS256", sign_alg="RS384"), rsa["flag"], rsa["file"], "not accepted"),
            ("none",
             jwt.encode(self.payload(), None, algorithm="none"), hs["flag"], hs["file"], "not accepted"),
            # Relabelled: an EdDSA token naming the RSA key's kid, checked against the JWKS.
            ("EdDSA token naming the RSA kid (JWKS)",
             self.pyjwt_token("EdDSA", headers={"kid": rsa["kid"]}), "--jwks", self.jwks_file,
             "does not match its key"),
            ("RS256 token naming the Ed25519 kid (JWKS)",
             self.pyjwt_token("RS256", headers={"kid": ed["kid"]}), "--jwks", self.jwks_file,
             "does not match its key"),
        ]
        for what, token, flag, path, reason in cases:
            with self.subTest(what):
                self.assertAirlockRejects(self.airlock_verify(token, flag, path), token, reason)

    def test_pyjwt_token_without_kid_is_refused_by_a_jwks(self):
        for alg in ("RS256", "EdDSA"):
            with self.subTest(alg=alg):
                token = self.pyjwt_token(alg)
                self.assertAirlockRejects(self.airlock_verify(token, "--jwks", self.jwks_file), token,
                                          "no 'kid'")

    def test_pyjwt_token_with_wrong_audience_or_issuer_is_rejected(self):
        token = self.pyjwt_token("EdDSA", self.payload(aud="someone-else"))
        self.assertAirlockRejects(self.airlock_verify(token, "--key", self.keys["EdDSA"]["file"]),
                                  token, "audience")
        token = self.pyjwt_token("EdDSA", self.payload(iss="mallory"))
        self.assertAirlockRejects(self.airlock_verify(token, "--key", self.keys["EdDSA"]["file"]),
                                  token, "issuer")


class AirlockToPyJwtTest(InteropTestCase):
    def test_airlock_tokens_verify_in_pyjwt(self):
        for alg in ("HS512", "RS256", "EdDSA"):
            with self.subTest(alg=alg):
                token = self.airlock_mint(alg, "--claim", 'ti={"dag_id":"d","try_number":1}')
                claims = self.pyjwt_decode(token, alg)
                self.assertEqual(claims["aud"], AUD)
                self.assertEqual(claims["iss"], ISS)
                self.assertEqual(claims["sub"], "ti:3f2a")
                self.assertEqual(claims["scope"], "execution")
                self.assertEqual(claims["ti"], {"dag_id": "d", "try_number": 1})
                self.assertEqual(claims["exp"] - claims["iat"], 600)
                # And PyJWT reads the same claims airlock verifies.
                key = self.keys[alg]
                verified = run("token", "verify", key["flag"], key["file"], "--aud", AUD, token)
                self.assertSucceeds(verified)
                self.assertEqual(json.loads(verified.stdout), claims)

    def test_airlock_headers_as_pyjwt_reads_them(self):
        for alg in ("HS512", "RS256", "EdDSA"):
            with self.subTest(alg=alg):
                header = jwt.get_unverified_header(self.airlock_mint(alg))
                expected = {"alg": alg, "typ": "JWT"}
                if self.keys[alg]["kid"]:
                    expected["kid"] = self.keys[alg]["kid"]
                self.assertEqual(header, expected)

    def test_airlock_tokens_verify_with_the_published_jwks_in_pyjwt(self):
        jwk_set = jwt.PyJWKSet.from_json(self.jwks_text)
        for alg in ("RS256", "EdDSA"):
            with self.subTest(alg=alg):
                token = self.airlock_mint(alg)
                kid = jwt.get_unverified_header(token)["kid"]
                matching = [k for k in jwk_set.keys if k.key_id == kid]
                self.assertEqual(len(matching), 1)
                published = [k for k in json.loads(self.jwks_text)["keys"] if k["kid"] == kid]
                self.assertEqual(published[0]["alg"], alg)
                claims = self.pyjwt_decode(token, alg, key=matching[0].key)
                self.assertEqual(claims["sub"], "ti:3f2a")

    def test_airlock_tokens_verify_in_pyjwt_jwks_client(self):
        # PyJWKClient is how Airflow fetches a trusted JWKS. It uses urllib, which honours
        # proxy variables; a loopback server must be reached directly.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.lower().endswith("_proxy")}
        self.addCleanup(os.environ.update, saved)
        with JwksServer(self.jwks_text.encode()) as server:
            client = jwt.PyJWKClient(server.url + "/.well-known/jwks.json")
            for alg in ("RS256", "EdDSA"):
                with self.subTest(alg=alg):
                    token = self.airlock_mint(alg)
                    signing_key = client.get_signing_key_from_jwt(token)
                    self.assertEqual(self.pyjwt_decode(token, alg, key=signing_key.key)["aud"], AUD)

    def test_airlock_rs512_and_multiple_audiences_in_pyjwt(self):
        token = self.airlock_mint("RS256", "--alg", "RS512", "--aud", "second")
        claims = jwt.decode(token, self.keys["RS256"]["verify"], algorithms=["RS512"],
                            audience="second", issuer=ISS)
        self.assertEqual(claims["aud"], [AUD, "second"])

    def test_pyjwt_refuses_tampered_or_misaudienced_airlock_tokens(self):
        # The positive checks above are not vacuous: PyJWT does check what we hand it.
        for alg in ("HS512", "RS256", "EdDSA"):
            with self.subTest(alg=alg):
                token = self.airlock_mint(alg)
                with self.assertRaises(jwt.InvalidAudienceError):
                    self.pyjwt_decode(token, alg, audience="other")
                head, payload, sig = token.split(".")
                claims = jwt.decode(token, options={"verify_signature": False})
                claims["sub"] = "admin"
                forged_payload = jwt.utils.base64url_encode(
                    json.dumps(claims, separators=(",", ":")).encode()).decode()
                with self.assertRaises(jwt.InvalidSignatureError):
                    self.pyjwt_decode(head + "." + forged_payload + "." + sig, alg)

    def test_airlock_kid_is_the_rfc7638_thumbprint_of_pyjwts_jwk(self):
        from cryptography.hazmat.primitives import serialization

        for alg, algorithm in (("RS256", RSAAlgorithm), ("EdDSA", OKPAlgorithm)):
            with self.subTest(alg=alg):
                public_key = serialization.load_pem_public_key(self.keys[alg]["verify"])
                jwk_path = self.write(alg + ".jwk", algorithm.to_jwk(public_key))
                result = run("keys", "thumbprint", jwk_path)
                self.assertSucceeds(result)
                self.assertEqual(result.stdout.strip(), self.keys[alg]["kid"])


if __name__ == "__main__":
    unittest.main()
