"""End-to-end tests of `airlock keys generate|jwks|thumbprint` (issue 2, CLI section)."""

import json
import os
import re
import stat
import unittest

from airlock_testlib import (
    EXIT_FAILURE,
    PRIVATE_JWK_MEMBERS,
    THUMBPRINT_RE,
    AirlockTestCase,
    b64url,
    b64url_decode,
    public_jwk_from_pem,
    public_pem_from_pem,
    rfc7638_thumbprint,
    run,
)

# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2"
    "QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6We"
    "Zu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# RFC 8037 A.2/A.3: the example Ed25519 public key and its thumbprint.
RFC8037_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{86}$")


class ThumbprintHelperTest(AirlockTestCase):
    """The tests' own RFC 7638 implementation reproduces the RFCs' examples, so it can be
    trusted as the independent reference below."""

    def test_reference_thumbprint_matches_rfc_examples(self):
        self.assertEqual(rfc7638_thumbprint(RFC7638_JWK), RFC7638_THUMBPRINT)
        self.assertEqual(rfc7638_thumbprint(RFC8037_JWK), RFC8037_THUMBPRINT)


class KeysGenerateTest(AirlockTestCase):
    def generate(self, *args, umask=None):
        return run("keys", "generate", *args, umask=umask)

    def assertMode0600(self, path):
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

    def test_ed25519_writes_pkcs8_pem_and_prints_its_kid(self):
        out = self.path("ed.pem")
        result = self.generate("--type", "ed25519", "--out", out)
        self.assertSucceeds(result)
        self.assertEqual(result.stderr, "")
        pem = self.read(out)
        self.assertTrue(pem.startswith(b"-----BEGIN PRIVATE KEY-----\n"), pem[:40])
        self.assertTrue(pem.endswith(b"-----END PRIVATE KEY-----\n"))
        jwk = public_jwk_from_pem(pem)
        self.assertEqual(jwk["kty"], "OKP")
        self.assertEqual(result.stdout, rfc7638_thumbprint(jwk) + "\n")
        self.assertMode0600(out)

    def test_rsa_defaults_to_2048_bits(self):
        out = self.path("rsa.pem")
        result = self.generate("--type", "rsa", "--out", out)
        self.assertSucceeds(result)
        pem = self.read(out)
        self.assertTrue(pem.startswith(b"-----BEGIN PRIVATE KEY-----\n"), pem[:40])
        jwk = public_jwk_from_pem(pem)
        self.assertEqual(jwk["kty"], "RSA")
        self.assertEqual(len(b64url_decode(jwk["n"])) * 8, 2048)
        self.assertEqual(jwk["e"], "AQAB")  # 65537
        self.assertEqual(result.stdout, rfc7638_thumbprint(jwk) + "\n")
        self.assertMode0600(out)

    def test_rsa_bits_is_honoured(self):
        out = self.path("rsa3072.pem")
        self.assertSucceeds(self.generate("--type", "rsa", "--bits", "3072", "--out", out))
        jwk = public_jwk_from_pem(self.read(out))
        self.assertEqual(len(b64url_decode(jwk["n"])) * 8, 3072)

    def test_rsa_under_2048_or_over_8192_bits_is_a_usage_error(self):
        for bits in ("1024", "2047", "8193", "-1", "many"):
            with self.subTest(bits=bits):
                out = self.path("rsa-%s.pem" % bits)
                result = self.generate("--type", "rsa", "--bits", bits, "--out", out)
                self.assertUsageError(result, "--bits")
                self.assertFalse(os.path.exists(out))

    def test_secret_is_86_base64url_characters_without_newline(self):
        out = self.path("secret")
        result = self.generate("--type", "secret", "--out", out)
        self.assertSucceeds(result)
        self.assertEqual(result.stdout, "")  # a secret has no kid; nothing is printed
        self.assertEqual(result.stderr, "")
        text = self.read(out).decode("ascii")
        self.assertRegex(text, SECRET_RE)
        self.assertNotIn("\n", text)
        self.assertEqual(len(b64url_decode(text)), 64)
        self.assertEqual(b64url(b64url_decode(text)), text)  # canonical encoding
        self.assertMode0600(out)

    def test_secrets_are_fresh(self):
        a, b = self.path("a"), self.path("b")
        self.assertSucceeds(self.generate("--type", "secret", "--out", a))
        self.assertSucceeds(self.generate("--type", "secret", "--out", b))
        self.assertNotEqual(self.read(a), self.read(b))

    def test_mode_is_0600_whatever_the_umask(self):
        for key_type in ("secret", "ed25519"):
            for umask in (0o000, 0o022, 0o077):
                with self.subTest(type=key_type, umask=oct(umask)):
                    out = self.path("%s-%o" % (key_type, umask))
                    self.assertSucceeds(self.generate("--type", key_type, "--out", out, umask=umask))
                    self.assertMode0600(out)

    def test_refuses_to_overwrite_an_existing_file_and_leaves_it_unchanged(self):
        for key_type in ("secret", "ed25519", "rsa"):
            with self.subTest(type=key_type):
                out = self.write("existing-" + key_type, b"keep me\n", mode=0o644)
                result = self.generate("--type", key_type, "--out", out)
                self.assertFailsWithOneLine(result, EXIT_FAILURE, "already exists")
                self.assertEqual(self.read(out), b"keep me\n")
                self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o644)

    def test_refuses_to_write_through_a_symlink(self):
        target = self.write("target", b"keep me\n", mode=0o644)
        link = self.path("link")
        os.symlink(target, link)
        dangling = self.path("dangling")
        os.symlink(self.path("does-not-exist"), dangling)
        for out in (link, dangling):
            with self.subTest(out=os.path.basename(out)):
                result = self.generate("--type", "secret", "--out", out)
                self.assertFailsWithOneLine(result, EXIT_FAILURE)
        self.assertEqual(self.read(target), b"keep me\n")
        self.assertFalse(os.path.exists(self.path("does-not-exist")))

    def test_unwritable_location_fails_with_exit_1(self):
        out = os.path.join(self.dir, "no-such-dir", "key.pem")
        result = self.generate("--type", "ed25519", "--out", out)
        self.assertFailsWithOneLine(result, EXIT_FAILURE, "cannot create")

    def test_bad_type_is_a_usage_error(self):
        for key_type in ("dsa", "ec", "RSA", "Ed25519", "hs512", ""):
            with self.subTest(type=key_type):
                out = self.path("k-" + key_type)
                result = self.generate("--type", key_type, "--out", out)
                self.assertUsageError(result, "--type")
                self.assertFalse(os.path.exists(out))

    def test_missing_type_or_out_is_a_usage_error(self):
        self.assertUsageError(self.generate("--out", self.path("x")), "--type")
        self.assertUsageError(self.generate("--type", "secret"), "--out")
        self.assertFalse(os.path.exists(self.path("x")))


class KeysJwksTest(AirlockTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ed = os.path.join(cls.class_dir, "ed.pem")
        cls.ed2 = os.path.join(cls.class_dir, "ed2.pem")
        cls.rsa = os.path.join(cls.class_dir, "rsa.pem")
        for path, key_type in ((cls.ed, "ed25519"), (cls.ed2, "ed25519"), (cls.rsa, "rsa")):
            result = run("keys", "generate", "--type", key_type, "--out", path)
            assert result.returncode == 0, result.stderr
        cls.secret = os.path.join(cls.class_dir, "secret")
        assert run("keys", "generate", "--type", "secret", "--out", cls.secret).returncode == 0

    def jwks(self, *files):
        result = run("keys", "jwks", *files)
        self.assertSucceeds(result)
        self.assertEqual(result.stderr, "")
        self.assertTrue(result.stdout.endswith("\n"))
        self.assertEqual(result.stdout.count("\n"), 1)
        doc = json.loads(result.stdout)
        self.assertEqual(list(doc), ["keys"])
        return doc["keys"]

    def expected_jwk(self, pem_path, alg):
        with open(pem_path, "rb") as f:
            jwk = public_jwk_from_pem(f.read())
        jwk["kid"] = rfc7638_thumbprint(jwk)
        jwk["alg"] = alg
        jwk["use"] = "sig"
        return jwk

    def assertPublicOnly(self, jwk):
        for member in PRIVATE_JWK_MEMBERS:
            self.assertNotIn(member, jwk)

    def test_one_file_gives_one_public_key_with_rfc7638_kid(self):
        for path, alg in ((self.ed, "EdDSA"), (self.rsa, "RS256")):
            with self.subTest(alg=alg):
                keys = self.jwks(path)
                self.assertEqual(len(keys), 1)
                self.assertPublicOnly(keys[0])
                self.assertEqual(keys[0], self.expected_jwk(path, alg))
                self.assertRegex(keys[0]["kid"], THUMBPRINT_RE)

    def test_several_files_give_several_keys_in_order(self):
        keys = self.jwks(self.ed, self.rsa, self.ed2)
        self.assertEqual(
            keys,
            [
                self.expected_jwk(self.ed, "EdDSA"),
                self.expected_jwk(self.rsa, "RS256"),
                self.expected_jwk(self.ed2, "EdDSA"),
            ],
        )
        for jwk in keys:
            self.assertPublicOnly(jwk)
        self.assertEqual(len({k["kid"] for k in keys}), 3)

    def test_public_pem_gives_the_same_jwk_as_its_private_pem(self):
        for path, alg in ((self.ed, "EdDSA"), (self.rsa, "RS256")):
            with self.subTest(alg=alg):
                with open(path, "rb") as f:
                    pub = self.write(alg + ".pub", public_pem_from_pem(f.read()))
                self.assertEqual(self.jwks(pub), self.jwks(path))

    def test_jwk_file_with_private_members_publishes_only_public_ones(self):
        from cryptography.hazmat.primitives import serialization

        with open(self.ed, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        d = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        with open(self.ed, "rb") as f:
            jwk = public_jwk_from_pem(f.read())
        jwk["d"] = b64url(d)
        path = self.write("ed.jwk", json.dumps(jwk))
        keys = self.jwks(path)
        self.assertEqual(keys, [self.expected_jwk(self.ed, "EdDSA")])

    def test_the_same_key_twice_is_refused(self):
        result = run("keys", "jwks", self.ed, self.ed)
        self.assertFailsWithOneLine(result, 2, "duplicate kid")

    def test_hmac_secret_is_never_published(self):
        with open(self.secret) as f:
            secret = f.read()
        oct_jwk = self.write("oct.jwk", json.dumps({"kty": "oct", "k": b64url(secret.encode())}))
        for path in (self.secret, oct_jwk):
            with self.subTest(file=os.path.basename(path)):
                result = run("keys", "jwks", path)
                self.assertFailsWithOneLine(result, 2, os.path.basename(path), secrets=[secret])
                self.assertNotIn(b64url(secret.encode()), result.stderr)
        result = run("keys", "jwks", oct_jwk)
        self.assertIn("never published", result.stderr)

    def test_missing_file_or_no_file_is_a_usage_error(self):
        result = run("keys", "jwks", self.path("missing.pem"))
        self.assertFailsWithOneLine(result, 2, "missing.pem")
        self.assertUsageError(run("keys", "jwks"))

    def test_weak_rsa_key_is_refused(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        pem = weak.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.write("weak.pem", pem)
        self.assertFailsWithOneLine(run("keys", "jwks", path), 2, "weak.pem")


class KeysThumbprintTest(AirlockTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ed = os.path.join(cls.class_dir, "ed.pem")
        cls.rsa = os.path.join(cls.class_dir, "rsa.pem")
        for path, key_type in ((cls.ed, "ed25519"), (cls.rsa, "rsa")):
            assert run("keys", "generate", "--type", key_type, "--out", path).returncode == 0

    def thumbprint(self, path):
        result = run("keys", "thumbprint", path)
        self.assertSucceeds(result)
        self.assertEqual(result.stderr, "")
        self.assertRegex(result.stdout, r"^[A-Za-z0-9_-]{43}\n$")
        return result.stdout.strip()

    def test_rfc_examples(self):
        self.assertEqual(
            self.thumbprint(self.write("rfc7638.jwk", json.dumps(RFC7638_JWK))), RFC7638_THUMBPRINT
        )
        self.assertEqual(
            self.thumbprint(self.write("rfc8037.jwk", json.dumps(RFC8037_JWK))), RFC8037_THUMBPRINT
        )

    def test_pem_public_pem_and_jwk_agree_with_the_reference(self):
        for path in (self.ed, self.rsa):
            with self.subTest(key=os.path.basename(path)):
                with open(path, "rb") as f:
                    pem = f.read()
                jwk = public_jwk_from_pem(pem)
                expected = rfc7638_thumbprint(jwk)
                pub = self.write("key.pub", public_pem_from_pem(pem))
                # Member order and extra members do not change a thumbprint, and neither
                # does a "kid" that is not the thumbprint.
                reordered = dict(reversed(list(jwk.items())), use="sig", kid="not-it")
                jwk_path = self.write("key.jwk", json.dumps(reordered, indent=2))
                jwks_member = json.loads(run("keys", "jwks", path).stdout)["keys"][0]
                jwks_member_path = self.write("member.jwk", json.dumps(jwks_member))
                self.assertEqual(self.thumbprint(path), expected)
                self.assertEqual(self.thumbprint(pub), expected)
                self.assertEqual(self.thumbprint(jwk_path), expected)
                self.assertEqual(self.thumbprint(jwks_member_path), expected)
                self.assertEqual(jwks_member["kid"], expected)

    def test_generate_prints_the_thumbprint(self):
        out = self.path("new.pem")
        result = run("keys", "generate", "--type", "ed25519", "--out", out)
        self.assertSucceeds(result)
        self.assertEqual(result.stdout.strip(), self.thumbprint(out))

    def test_unreadable_or_non_key_file_is_a_usage_error(self):
        self.assertFailsWithOneLine(run("keys", "thumbprint", self.path("missing")), 2, "missing")
        garbage = self.write("garbage", "hello\n")
        self.assertFailsWithOneLine(run("keys", "thumbprint", garbage), 2, "garbage")
        self.assertUsageError(run("keys", "thumbprint"))


class KeysHelpTest(AirlockTestCase):
    def test_every_keys_command_has_help(self):
        for args, words in (
            (("keys",), ("generate", "jwks", "thumbprint")),
            (("keys", "generate"), ("0600", "overwrite", "86", "--type", "--bits", "--out")),
            (("keys", "jwks"), ("public", "7638")),
            (("keys", "thumbprint"), ("7638",)),
        ):
            with self.subTest(command=" ".join(args)):
                result = run(*args, "--help")
                self.assertSucceeds(result)
                self.assertIn("Usage:", result.stdout)
                for word in words:
                    self.assertIn(word, result.stdout)


if __name__ == "__main__":
    unittest.main()
