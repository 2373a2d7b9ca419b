"""End-to-end tests of `airlock token mint|verify|inspect` (issue 2, CLI section).

Hostile tokens here are built with the standard library (HMAC-SHA-512) and are correctly
signed, so that only the check under test can reject them.
"""

import hashlib
import hmac
import json
import os
import re
import unittest

from airlock_testlib import (
    EXIT_FAILURE,
    EXIT_USAGE,
    TOKEN_RE,
    AirlockTestCase,
    JwksServer,
    b64url,
    hs512_token,
    json_segment,
    now,
    public_pem_from_pem,
    rfc7638_thumbprint,
    public_jwk_from_pem,
    run,
    split_token,
)


class TokenTestCase(AirlockTestCase):
    """Keys shared by a test class: Ed25519, RSA, a second Ed25519 and two secrets."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.class_dir
        cls.ed = os.path.join(d, "ed.pem")
        cls.ed_other = os.path.join(d, "ed-other.pem")
        cls.rsa = os.path.join(d, "rsa.pem")
        cls.secret_file = os.path.join(d, "secret")
        cls.secret_other = os.path.join(d, "secret-other")
        for path, key_type in (
            (cls.ed, "ed25519"),
            (cls.ed_other, "ed25519"),
            (cls.rsa, "rsa"),
            (cls.secret_file, "secret"),
            (cls.secret_other, "secret"),
        ):
            result = run("keys", "generate", "--type", key_type, "--out", path)
            assert result.returncode == 0, result.stderr
        with open(cls.secret_file) as f:
            cls.secret = f.read()
        for name in ("ed", "rsa"):
            with open(getattr(cls, name), "rb") as f:
                pem = f.read()
            pub = os.path.join(d, name + ".pub")
            with open(pub, "wb") as f:
                f.write(public_pem_from_pem(pem))
            setattr(cls, name + "_pub", pub)
            setattr(cls, name + "_kid", rfc7638_thumbprint(public_jwk_from_pem(pem)))

    def mint(self, *args, key_args=None):
        if key_args is None:
            key_args = ("--key", self.ed)
        result = run("token", "mint", *key_args, *args)
        self.assertSucceeds(result)
        self.assertEqual(result.stderr, "")
        self.assertTrue(result.stdout.endswith("\n"))
        token = result.stdout[:-1]
        self.assertRegex(token, TOKEN_RE)
        return token

    def verify(self, token, *args, stdin=None):
        return run("token", "verify", *args, token, stdin=stdin)

    def assertValid(self, result):
        """Exit 0, nothing on stderr, one JSON object on one line of stdout; returns it."""
        self.assertSucceeds(result)
        self.assertEqual(result.stderr, "")
        self.assertTrue(result.stdout.endswith("\n"))
        self.assertEqual(result.stdout.count("\n"), 1)
        claims = json.loads(result.stdout)
        self.assertIsInstance(claims, dict)
        return claims

    def assertInvalid(self, result, token, reason):
        """Exit 1 and one line on stderr naming `reason`, with no part of the token and
        no secret in it."""
        self.assertFailsWithOneLine(
            result,
            EXIT_FAILURE,
            reason,
            # Segments long enough that finding one in a message cannot be chance.
            secrets=[token, *(s for s in token.split(".") if len(s) >= 16), self.secret,
                     b64url(self.secret.encode())],
        )

    def claims(self, **overrides):
        t = now()
        claims = {"jti": "0" * 32, "aud": "api", "sub": "alice", "iat": t, "nbf": t, "exp": t + 600}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def hs_token(self, **overrides):
        return hs512_token(self.secret.encode(), self.claims(**overrides))


class TokenMintTest(TokenTestCase):
    def test_ed25519_header_and_claims(self):
        before = now()
        token = self.mint("--aud", "api", "--sub", "alice", "--iss", "me", "--scope", "execution")
        after = now()
        header, claims, signature = split_token(token)
        self.assertEqual(header, {"alg": "EdDSA", "kid": self.ed_kid, "typ": "JWT"})
        self.assertEqual(len(signature), 64)
        self.assertEqual(
            set(claims), {"jti", "iss", "aud", "sub", "scope", "iat", "nbf", "exp"}
        )
        self.assertRegex(claims["jti"], r"^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$")
        self.assertEqual(claims["iss"], "me")
        self.assertEqual(claims["aud"], "api")
        self.assertEqual(claims["sub"], "alice")
        self.assertEqual(claims["scope"], "execution")
        self.assertTrue(before <= claims["iat"] <= after)
        self.assertEqual(claims["nbf"], claims["iat"])
        self.assertEqual(claims["exp"], claims["iat"] + 600)  # default --ttl

    def test_rsa_header(self):
        token = self.mint("--aud", "api", "--sub", "alice", key_args=("--key", self.rsa))
        header, _, signature = split_token(token)
        self.assertEqual(header, {"alg": "RS256", "kid": self.rsa_kid, "typ": "JWT"})
        self.assertEqual(len(signature), 256)

    def test_rsa_with_alg_rs512(self):
        token = self.mint(
            "--aud", "api", "--sub", "alice", "--alg", "RS512", key_args=("--key", self.rsa)
        )
        self.assertEqual(split_token(token)[0]["alg"], "RS512")
        self.assertValid(self.verify(token, "--key", self.rsa, "--alg", "RS512", "--aud", "api"))
        # Without --alg the key is pinned to RS256, so an RS512 token does not fit it.
        self.assertInvalid(
            self.verify(token, "--key", self.rsa, "--aud", "api"), token, "does not match its key"
        )

    def test_secret_header_has_no_kid(self):
        token = self.mint("--aud", "api", "--sub", "a", key_args=("--secret-file", self.secret_file))
        header, _, signature = split_token(token)
        self.assertEqual(header, {"alg": "HS512", "typ": "JWT"})
        self.assertEqual(len(signature), 64)

    def test_no_iss_or_scope_unless_given(self):
        _, claims, _ = split_token(self.mint("--aud", "api", "--sub", "alice"))
        self.assertEqual(set(claims), {"jti", "aud", "sub", "iat", "nbf", "exp"})

    def test_every_token_has_a_fresh_jti(self):
        jtis = {split_token(self.mint("--aud", "a", "--sub", "s"))[1]["jti"] for _ in range(3)}
        self.assertEqual(len(jtis), 3)

    def test_several_audiences_become_an_array(self):
        _, claims, _ = split_token(self.mint("--aud", "a1", "--aud", "a2", "--sub", "s"))
        self.assertEqual(claims["aud"], ["a1", "a2"])

    def test_ttl(self):
        _, claims, _ = split_token(self.mint("--aud", "a", "--sub", "s", "--ttl", "5"))
        self.assertEqual(claims["exp"] - claims["iat"], 5)
        for ttl in ("0", "-5", "x", str(10 * 365 * 86400 + 1)):
            with self.subTest(ttl=ttl):
                result = run("token", "mint", "--key", self.ed, "--aud", "a", "--sub", "s", "--ttl", ttl)
                self.assertUsageError(result, "--ttl")

    def test_kid_override(self):
        token = self.mint("--aud", "a", "--sub", "s", "--kid", "my-key_1.v2")
        self.assertEqual(split_token(token)[0]["kid"], "my-key_1.v2")
        # HS512 tokens carry no kid (SPEC §2): --kid with a secret is refused.
        hs = self.mint("--aud", "a", "--sub", "s", key_args=("--secret-file", self.secret_file))
        self.assertEqual(split_token(hs)[0], {"alg": "HS512", "typ": "JWT"})
        result = run("token", "mint", "--secret-file", self.secret_file, "--aud", "a", "--sub", "s",
                     "--kid", "hs-1")
        self.assertFailsWithOneLine(result, EXIT_USAGE, "HS512 tokens carry no kid")

    def test_kid_outside_the_allowed_syntax_is_a_usage_error(self):
        for kid in ("bad kid", "a/b", "x" * 129, "ü"):
            with self.subTest(kid=kid):
                result = run("token", "mint", "--key", self.ed, "--aud", "a", "--sub", "s", "--kid", kid)
                self.assertFailsWithOneLine(result, EXIT_USAGE, "kid")

    def test_extra_claims_are_json(self):
        _, claims, _ = split_token(
            self.mint(
                "--aud", "a", "--sub", "s",
                "--claim", 'obj={"y":[1,2,{"z":null}]}',
                "--claim", "num=42",
                "--claim", 'str="hello"',
                "--claim", "flag=true",
                "--claim", 'eq="a=b"',
                "--claim", 'scope="from-claim"',
            )
        )
        self.assertEqual(claims["obj"], {"y": [1, 2, {"z": None}]})
        self.assertEqual(claims["num"], 42)
        self.assertEqual(claims["str"], "hello")
        self.assertIs(claims["flag"], True)
        self.assertEqual(claims["eq"], "a=b")
        self.assertEqual(claims["scope"], "from-claim")

    def test_reserved_claims_are_refused_with_exit_2(self):
        # The signer writes these itself; letting --claim set them would forge exp/iat or
        # a second aud. It is a usage error: nothing is printed on stdout.
        for name in ("jti", "iss", "aud", "sub", "iat", "nbf", "exp"):
            with self.subTest(claim=name):
                result = run(
                    "token", "mint", "--key", self.ed, "--aud", "a", "--sub", "s", "--claim", name + "=1"
                )
                self.assertFailsWithOneLine(result, EXIT_USAGE, "claim '%s'" % name)

    def test_claim_clashing_with_scope_flag_is_refused(self):
        result = run(
            "token", "mint", "--key", self.ed, "--aud", "a", "--sub", "s",
            "--scope", "x", "--claim", 'scope="y"',
        )
        self.assertFailsWithOneLine(result, EXIT_USAGE, "given twice")

    def test_bad_claim_syntax_is_a_usage_error(self):
        for claim in ("noequals", "=1", "x=not json", "x=", 'x={"a":1,"a":2}'):
            with self.subTest(claim=claim):
                result = run("token", "mint", "--key", self.ed, "--aud", "a", "--sub", "s", "--claim", claim)
                self.assertFailsWithOneLine(result, EXIT_USAGE)

    def test_alg_that_does_not_fit_the_key_is_a_usage_error(self):
        for key_args, alg in (
            (("--key", self.ed), "RS256"),
            (("--key", self.rsa), "EdDSA"),
            (("--key", self.rsa), "HS512"),
            (("--secret-file", self.secret_file), "RS256"),
            (("--key", self.ed), "HS256"),
            (("--key", self.ed), "none"),
            (("--key", self.ed), "eddsa"),
        ):
            with self.subTest(alg=alg, key=key_args[1]):
                result = run("token", "mint", *key_args, "--alg", alg, "--aud", "a", "--sub", "s")
                self.assertFailsWithOneLine(result, EXIT_USAGE, secrets=[self.secret])

    def test_key_choice_and_required_flags(self):
        base = ("token", "mint", "--aud", "a", "--sub", "s")
        self.assertFailsWithOneLine(run(*base), EXIT_USAGE, "exactly one of --key or --secret-file")
        self.assertUsageError(run(*base, "--key", self.ed, "--secret-file", self.secret_file), "excludes")
        self.assertUsageError(run("token", "mint", "--key", self.ed, "--sub", "s"), "--aud")
        self.assertUsageError(run("token", "mint", "--key", self.ed, "--aud", "a"), "--sub")
        self.assertUsageError(run(*base, "--key", self.ed, "--bogus"))

    def test_public_key_cannot_sign(self):
        result = run("token", "mint", "--key", self.ed_pub, "--aud", "a", "--sub", "s")
        self.assertFailsWithOneLine(result, EXIT_USAGE, "public only")

    def test_short_or_missing_secret_is_a_usage_error_that_does_not_echo_it(self):
        short = self.write("short", "tooshort-secret-value")
        result = run("token", "mint", "--secret-file", short, "--aud", "a", "--sub", "s")
        self.assertFailsWithOneLine(result, EXIT_USAGE, "64", secrets=["tooshort-secret-value"])
        result = run("token", "mint", "--secret-file", self.path("missing"), "--aud", "a", "--sub", "s")
        self.assertFailsWithOneLine(result, EXIT_USAGE, "missing")


class TokenVerifyTest(TokenTestCase):
    def test_valid_token_prints_its_claims_as_one_json_object(self):
        for key_args in (("--key", self.ed), ("--key", self.rsa), ("--secret-file", self.secret_file)):
            with self.subTest(key=os.path.basename(key_args[1])):
                token = self.mint("--aud", "api", "--sub", "alice", "--iss", "me",
                                  "--claim", 'x={"y":[1,2]}', key_args=key_args)
                result = self.verify(token, *key_args, "--aud", "api", "--iss", "me")
                self.assertEqual(self.assertValid(result), split_token(token)[1])

    def test_private_pem_verifies_with_its_public_half_and_public_pem_and_jwk_too(self):
        for priv, pub in ((self.ed, self.ed_pub), (self.rsa, self.rsa_pub)):
            with self.subTest(key=os.path.basename(priv)):
                token = self.mint("--aud", "api", "--sub", "alice", key_args=("--key", priv))
                jwk = json.loads(run("keys", "jwks", priv).stdout)["keys"][0]
                jwk_file = self.write("key.jwk", json.dumps(jwk))
                for key in (priv, pub, jwk_file):
                    self.assertValid(self.verify(token, "--key", key, "--aud", "api"))

    def test_token_from_stdin(self):
        token = self.mint("--aud", "api", "--sub", "alice")
        for stdin in (token, token + "\n", token + "\r\n"):
            with self.subTest(stdin=repr(stdin[-2:])):
                result = self.verify("-", "--key", self.ed, "--aud", "api", stdin=stdin)
                self.assertEqual(self.assertValid(result), split_token(token)[1])
        # mint | verify -
        minted = run("token", "mint", "--key", self.ed, "--aud", "api", "--sub", "bob")
        result = self.verify("-", "--key", self.ed, "--aud", "api", stdin=minted.stdout)
        self.assertEqual(self.assertValid(result)["sub"], "bob")
        result = self.verify("-", "--key", self.ed, "--aud", "api", stdin="")
        self.assertFailsWithOneLine(result, EXIT_FAILURE, "invalid token")

    def test_audience(self):
        token = self.mint("--aud", "api", "--sub", "s")
        self.assertInvalid(self.verify(token, "--key", self.ed, "--aud", "other"), token, "audience")
        self.assertInvalid(self.verify(token, "--key", self.ed, "--aud", "API"), token, "audience")
        self.assertInvalid(self.verify(token, "--key", self.ed, "--aud", "api "), token, "audience")
        self.assertValid(self.verify(token, "--key", self.ed, "--aud", "other", "--aud", "api"))
        multi = self.mint("--aud", "a1", "--aud", "a2", "--sub", "s")
        self.assertValid(self.verify(multi, "--key", self.ed, "--aud", "a2"))
        self.assertInvalid(self.verify(multi, "--key", self.ed, "--aud", "a3"), multi, "audience")
        no_aud = self.hs_token(aud=None)
        self.assertInvalid(self.verify(no_aud, "--secret-file", self.secret_file, "--aud", "api"),
                           no_aud, "audience")

    def test_issuer(self):
        token = self.mint("--aud", "api", "--sub", "s", "--iss", "me")
        self.assertValid(self.verify(token, "--key", self.ed, "--aud", "api"))  # not configured
        self.assertInvalid(self.verify(token, "--key", self.ed, "--aud", "api", "--iss", "you"),
                           token, "issuer")
        no_iss = self.mint("--aud", "api", "--sub", "s")
        self.assertInvalid(self.verify(no_iss, "--key", self.ed, "--aud", "api", "--iss", "me"),
                           no_iss, "issuer")

    def test_expired_and_leeway(self):
        t = now()
        expired = self.hs_token(iat=t - 1000, nbf=t - 1000, exp=t - 30)
        args = ("--secret-file", self.secret_file, "--aud", "api")
        self.assertInvalid(self.verify(expired, *args), expired, "expired")  # default 10 s
        self.assertInvalid(self.verify(expired, *args, "--leeway", "0"), expired, "expired")
        self.assertValid(self.verify(expired, *args, "--leeway", "120"))
        long_expired = self.hs_token(iat=t - 100000, nbf=t - 100000, exp=t - 90000)
        self.assertInvalid(self.verify(long_expired, *args, "--leeway", "86400"), long_expired, "expired")

    def test_default_leeway_is_10_seconds_and_leeway_0_is_strict(self):
        just_expired = self.hs_token(exp=now() - 3)
        args = ("--secret-file", self.secret_file, "--aud", "api")
        self.assertValid(self.verify(just_expired, *args))
        self.assertInvalid(self.verify(just_expired, *args, "--leeway", "0"), just_expired, "expired")

    def test_not_yet_valid_and_issued_in_the_future(self):
        t = now()
        args = ("--secret-file", self.secret_file, "--aud", "api")
        nbf = self.hs_token(nbf=t + 60)
        self.assertInvalid(self.verify(nbf, *args), nbf, "not valid yet")
        self.assertValid(self.verify(nbf, *args, "--leeway", "120"))
        iat = self.hs_token(iat=t + 60, nbf=None)
        self.assertInvalid(self.verify(iat, *args), iat, "issued in the future")
        self.assertValid(self.verify(iat, *args, "--leeway", "120"))

    def test_exp_and_iat_are_required(self):
        args = ("--secret-file", self.secret_file, "--aud", "api")
        for name in ("exp", "iat"):
            with self.subTest(missing=name):
                token = self.hs_token(**{name: None})
                self.assertInvalid(self.verify(token, *args), token, "'%s'" % name)

    def test_leeway_out_of_range_is_a_usage_error(self):
        token = self.mint("--aud", "api", "--sub", "s")
        for leeway in ("-1", "86401", "ten"):
            with self.subTest(leeway=leeway):
                result = self.verify(token, "--key", self.ed, "--aud", "api", "--leeway", leeway)
                self.assertUsageError(result, "--leeway")

    def test_bad_signature(self):
        for key_args in (("--key", self.ed), ("--key", self.rsa), ("--secret-file", self.secret_file)):
            with self.subTest(key=os.path.basename(key_args[1])):
                token = self.mint("--aud", "api", "--sub", "s", key_args=key_args)
                head, payload, sig = token.split(".")
                # Change a character in the middle: still canonical base64url, same length.
                i = len(sig) // 2
                bad = head + "." + payload + "." + sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
                self.assertInvalid(self.verify(bad, *key_args, "--aud", "api"), bad,
                                   "signature verification failed")

    def test_tampered_payload(self):
        for key_args in (("--key", self.ed), ("--key", self.rsa), ("--secret-file", self.secret_file)):
            with self.subTest(key=os.path.basename(key_args[1])):
                token = self.mint("--aud", "api", "--sub", "alice", key_args=key_args)
                head, _, sig = token.split(".")
                claims = split_token(token)[1]
                claims["sub"] = "admin"
                bad = head + "." + json_segment(claims) + "." + sig
                self.assertInvalid(self.verify(bad, *key_args, "--aud", "api"), bad,
                                   "signature verification failed")

    def test_wrong_key(self):
        token = self.mint("--aud", "api", "--sub", "s")
        # Another Ed25519 key has another RFC 7638 kid: no fallback to trying it.
        self.assertInvalid(self.verify(token, "--key", self.ed_other, "--aud", "api"), token,
                           "unknown key id")
        self.assertInvalid(self.verify(token, "--key", self.rsa, "--aud", "api"), token,
                           "unknown key id")
        hs = self.mint("--aud", "api", "--sub", "s", key_args=("--secret-file", self.secret_file))
        self.assertInvalid(self.verify(hs, "--secret-file", self.secret_other, "--aud", "api"), hs,
                           "signature verification failed")
        # An Ed25519 token that names the other key's kid is checked with that key only.
        head, payload, sig = token.split(".")
        header = split_token(token)[0]
        with open(self.ed_other, "rb") as f:
            header["kid"] = rfc7638_thumbprint(public_jwk_from_pem(f.read()))
        swapped = json_segment(header) + "." + payload + "." + sig
        self.assertInvalid(self.verify(swapped, "--key", self.ed_other, "--aud", "api"), swapped,
                           "signature verification failed")

    def test_algorithm_bound_to_the_key(self):
        # An HS512 token MAC'd with the RSA public key's PEM text (the classic confusion)
        # must not verify against that public key.
        with open(self.rsa_pub, "rb") as f:
            pub_pem = f.read()
        for header in ({"alg": "HS512", "typ": "JWT"}, {"alg": "HS512", "kid": self.rsa_kid, "typ": "JWT"}):
            with self.subTest(header=header):
                token = hs512_token(pub_pem, self.claims(), header)
                self.assertInvalid(self.verify(token, "--key", self.rsa_pub, "--aud", "api"), token,
                                   "does not match its key")
        # An EdDSA token never verifies with an RSA key pinned to RS256 under the same kid.
        ed_token = self.mint("--aud", "api", "--sub", "s")
        header = split_token(ed_token)[0]
        header["kid"] = self.rsa_kid
        relabelled = json_segment(header) + "." + ".".join(ed_token.split(".")[1:])
        self.assertInvalid(self.verify(relabelled, "--key", self.rsa, "--aud", "api"), relabelled,
                           "does not match its key")

    def test_unsupported_algorithms(self):
        claims = json_segment(self.claims())
        for alg in ("none", "None", "NONE", "HS256", "hs512", "RS384", "ES256", "PS256"):
            with self.subTest(alg=alg):
                token = json_segment({"alg": alg, "typ": "JWT"}) + "." + claims + "."
                self.assertInvalid(self.verify(token, "--secret-file", self.secret_file, "--aud", "api"),
                                   token, "invalid token")
                token = hs512_token(self.secret.encode(), self.claims(), {"alg": alg, "typ": "JWT"})
                self.assertInvalid(self.verify(token, "--secret-file", self.secret_file, "--aud", "api"),
                                   token, "algorithm is not accepted")

    def test_alg_not_allowed_with_jwks(self):
        jwks = self.write("jwks.json", run("keys", "jwks", self.ed, self.rsa).stdout)
        ed_token = self.mint("--aud", "api", "--sub", "s")
        rsa_token = self.mint("--aud", "api", "--sub", "s", key_args=("--key", self.rsa))
        self.assertInvalid(
            self.verify(ed_token, "--jwks", jwks, "--aud", "api", "--alg", "RS256", "--alg", "RS512"),
            ed_token, "not allowed")
        # One --alg also pins the JWKS: the Ed25519 JWK is not used for RS256 at all.
        self.assertInvalid(self.verify(ed_token, "--jwks", jwks, "--aud", "api", "--alg", "RS256"),
                           ed_token, "unknown key id")
        self.assertValid(self.verify(rsa_token, "--jwks", jwks, "--aud", "api", "--alg", "RS256"))
        self.assertValid(
            self.verify(ed_token, "--jwks", jwks, "--aud", "api", "--alg", "RS256", "--alg", "EdDSA")
        )

    def test_alg_flag_with_a_single_key(self):
        token = self.mint("--aud", "api", "--sub", "s")
        self.assertValid(self.verify(token, "--key", self.ed, "--aud", "api", "--alg", "EdDSA"))
        # With --key, --alg pins the key: an alg that cannot fit it is a usage error.
        self.assertFailsWithOneLine(
            self.verify(token, "--key", self.ed, "--aud", "api", "--alg", "RS256"), EXIT_USAGE, "RS256"
        )
        self.assertFailsWithOneLine(
            self.verify(token, "--key", self.ed, "--aud", "api", "--alg", "EdDSA", "--alg", "RS256"),
            EXIT_USAGE, "at most one --alg",
        )
        self.assertFailsWithOneLine(
            self.verify(token, "--key", self.ed, "--aud", "api", "--alg", "HS256"), EXIT_USAGE, "--alg"
        )

    def test_malformed_tokens(self):
        args = ("--secret-file", self.secret_file, "--aud", "api")
        good = self.hs_token()
        head, payload, sig = good.split(".")
        for token, reason in (
            ("abc", "three segments"),
            (head + "." + payload, "three segments"),
            (good + ".x", "three segments"),
            (head + "=." + payload + "." + sig, "base64url"),
            ("x" * 9000, "larger than 8192"),
        ):
            with self.subTest(reason=reason, n=len(token)):
                self.assertInvalid(self.verify(token, *args), token, reason)

    def test_failure_message_never_contains_token_or_secret(self):
        # A token whose claims and header carry the secret itself must not echo it.
        leaky = hs512_token(
            self.secret.encode(),
            self.claims(aud=self.secret, sub=self.secret),
            {"alg": "HS512", "typ": "JWT"},
        )
        result = self.verify(leaky, "--secret-file", self.secret_file, "--aud", "api")
        self.assertInvalid(result, leaky, "audience")
        self.assertNotIn(self.secret, result.stderr)

    def test_secret_file_trailing_newline(self):
        plain = self.write("plain", self.secret)
        one_nl = self.write("one-nl", self.secret + "\n")
        two_nl = self.write("two-nl", self.secret + "\n\n")
        crlf = self.write("crlf", self.secret + "\r\n")
        from_plain = self.mint("--aud", "api", "--sub", "s", key_args=("--secret-file", plain))
        from_one_nl = self.mint("--aud", "api", "--sub", "s", key_args=("--secret-file", one_nl))
        # One trailing "\n" is dropped: the two files are the same secret, both ways.
        for token in (from_plain, from_one_nl):
            for secret_file in (plain, one_nl):
                self.assertValid(self.verify(token, "--secret-file", secret_file, "--aud", "api"))
        # "\n\n" (only one is dropped) and "\r\n" are other secrets.
        for other in (two_nl, crlf):
            with self.subTest(file=os.path.basename(other)):
                self.assertInvalid(self.verify(from_plain, "--secret-file", other, "--aud", "api"),
                                   from_plain, "signature verification failed")
                theirs = self.mint("--aud", "api", "--sub", "s", key_args=("--secret-file", other))
                self.assertValid(self.verify(theirs, "--secret-file", other, "--aud", "api"))
                self.assertInvalid(self.verify(theirs, "--secret-file", plain, "--aud", "api"),
                                   theirs, "signature verification failed")
        # A token MAC'd over the file's bytes including the "\n" is not one of the one-"\n"
        # file's secret, but is the two-"\n" file's.
        with_nl = hs512_token((self.secret + "\n").encode(), self.claims())
        self.assertInvalid(self.verify(with_nl, "--secret-file", one_nl, "--aud", "api"), with_nl,
                           "signature verification failed")
        self.assertValid(self.verify(with_nl, "--secret-file", two_nl, "--aud", "api"))

    def test_hmac_key_is_the_secret_texts_bytes(self):
        token = self.hs_token()  # MAC'd here over the 86 text bytes, not the decoded 64
        self.assertValid(self.verify(token, "--secret-file", self.secret_file, "--aud", "api"))
        minted = self.mint("--aud", "api", "--sub", "s", key_args=("--secret-file", self.secret_file))
        head, payload, sig = minted.split(".")
        tag = hmac.new(self.secret.encode(), (head + "." + payload).encode(), hashlib.sha512).digest()
        self.assertEqual(sig, b64url(tag))

    def test_kid_override_verifies_through_a_jwks_naming_it(self):
        token = self.mint("--aud", "api", "--sub", "s", "--kid", "my-key-1")
        jwks = json.loads(run("keys", "jwks", self.ed).stdout)
        jwks["keys"][0]["kid"] = "my-key-1"
        jwks_file = self.write("jwks.json", json.dumps(jwks))
        self.assertValid(self.verify(token, "--jwks", jwks_file, "--aud", "api"))
        # A single key file knows its key by its RFC 7638 kid only.
        self.assertInvalid(self.verify(token, "--key", self.ed, "--aud", "api"), token, "unknown key id")
        # An HS512 token carries no kid, so it is checked against the secret itself, never
        # looked up in a JWKS (kidless tokens are not accepted against a JWKS).
        hs = self.mint("--aud", "api", "--sub", "s", key_args=("--secret-file", self.secret_file))
        self.assertValid(self.verify(hs, "--secret-file", self.secret_file, "--aud", "api"))
        oct_jwks = self.write("oct.json", json.dumps(
            {"keys": [{"kty": "oct", "k": b64url(self.secret.encode()), "kid": "hs-1"}]}))
        self.assertInvalid(self.verify(hs, "--jwks", oct_jwks, "--aud", "api"), hs, "kid")

    def test_jwks_file(self):
        jwks = self.write("jwks.json", run("keys", "jwks", self.ed, self.rsa).stdout)
        for key_args in (("--key", self.ed), ("--key", self.rsa)):
            with self.subTest(key=os.path.basename(key_args[1])):
                token = self.mint("--aud", "api", "--sub", "s", key_args=key_args)
                result = self.verify(token, "--jwks", jwks, "--aud", "api")
                self.assertEqual(self.assertValid(result), split_token(token)[1])
        other = self.mint("--aud", "api", "--sub", "s", key_args=("--key", self.ed_other))
        self.assertInvalid(self.verify(other, "--jwks", jwks, "--aud", "api"), other, "unknown key id")
        # A token without kid is never accepted against a JWKS, even with a single key.
        single = self.write("single.json", run("keys", "jwks", self.ed).stdout)
        token = self.mint("--aud", "api", "--sub", "s")
        header = split_token(token)[0]
        del header["kid"]
        no_kid = json_segment(header) + "." + ".".join(token.split(".")[1:])
        self.assertInvalid(self.verify(no_kid, "--jwks", single, "--aud", "api"), no_kid, "no 'kid'")

    def test_jwks_url(self):
        body = run("keys", "jwks", self.ed, self.rsa).stdout.encode()
        ed_token = self.mint("--aud", "api", "--sub", "s")
        rsa_token = self.mint("--aud", "api", "--sub", "s", key_args=("--key", self.rsa))
        other = self.mint("--aud", "api", "--sub", "s", key_args=("--key", self.ed_other))
        with JwksServer(body) as server:
            url = server.url + "/.well-known/jwks.json"
            for token in (ed_token, rsa_token):
                result = self.verify(token, "--jwks", url, "--aud", "api")
                self.assertEqual(self.assertValid(result), split_token(token)[1])
            self.assertInvalid(self.verify(other, "--jwks", url, "--aud", "api"), other, "unknown key id")
            self.assertGreaterEqual(server.requests, 3)

    def test_jwks_url_that_fails_is_not_a_valid_token(self):
        token = self.mint("--aud", "api", "--sub", "s")
        with JwksServer(b"not found", status=404) as server:
            result = self.verify(token, "--jwks", server.url + "/jwks.json", "--aud", "api")
            self.assertFailsWithOneLine(result, EXIT_USAGE, "404", secrets=[token])
        with JwksServer(b'{"keys": 1}') as server:
            result = self.verify(token, "--jwks", server.url + "/jwks.json", "--aud", "api")
            self.assertFailsWithOneLine(result, EXIT_USAGE, "keys", secrets=[token])

    def test_usage_errors(self):
        token = self.mint("--aud", "api", "--sub", "s")
        jwks = self.write("jwks.json", run("keys", "jwks", self.ed).stdout)
        for args, contains in (
            (("token", "verify", "--key", self.ed, "--aud", "api"), "token"),
            (("token", "verify", "--aud", "api", token), "exactly one of --key, --secret-file or --jwks"),
            (("token", "verify", "--key", self.ed, token), "--aud"),
            (("token", "verify", "--key", self.ed, "--jwks", jwks, "--aud", "api", token), "excludes"),
            (("token", "verify", "--key", self.ed, "--secret-file", self.secret_file, "--aud", "api", token),
             "excludes"),
            (("token", "verify", "--key", self.ed, "--aud", "api", "--alg", "XS1", token), "--alg"),
            (("token", "verify", "--key", self.ed, "--aud", "api", "--nope", token), "--nope"),
            (("token", "verify", "--key", self.ed, "--aud", "api", token, "stray"), "stray"),
            (("token", "verify", "--key", self.path("missing.pem"), "--aud", "api", token), "missing.pem"),
            (("token",), ""),
            (("token", "frobnicate"), ""),
            ((), ""),
        ):
            with self.subTest(args=" ".join(a if a != token else "TOKEN" for a in args)):
                result = run(*args)
                self.assertUsageError(result, contains)
                self.assertNotIn(token.split(".")[2], result.stderr)


    def test_repeatable_options_take_one_value_per_flag(self):
        # "--aud A" must not swallow the next word: "--aud api stray TOKEN" once verified
        # the token while silently accepting the audience "stray".
        token = self.mint("--aud", "api", "--sub", "s")
        stray_aud = self.mint("--aud", "stray", "--sub", "s")
        for args in (
            ("--key", self.ed, "--aud", "api", "stray", token),
            ("--key", self.ed, "--aud", "api", "stray", stray_aud),
            ("--jwks", self.write("jwks.json", run("keys", "jwks", self.ed).stdout),
             "--alg", "EdDSA", "RS256", "--aud", "api", token),
        ):
            with self.subTest(args=len(args)):
                self.assertUsageError(self.verify(args[-1], *args[:-1]), "not expected")
        result = run("token", "mint", "--key", self.ed, "--sub", "s", "--aud", "a", "b")
        self.assertUsageError(result, "not expected: b")
        result = run("token", "mint", "--key", self.ed, "--sub", "s", "--aud", "a", "--claim", "x=1", "y=2")
        self.assertUsageError(result, "not expected: y=2")


class TokenInspectTest(TokenTestCase):
    def assertInspected(self, result, token):
        self.assertSucceeds(result)
        self.assertIn("UNVERIFIED", result.stderr)
        self.assertEqual(result.stdout.count("\n"), 1)
        out = json.loads(result.stdout)
        header, claims, _ = split_token(token)
        self.assertEqual(out, {"verified": False, "header": header, "claims": claims})
        self.assertEqual(list(out)[0], "verified")

    def test_prints_header_and_claims_marked_unverified(self):
        token = self.mint("--aud", "api", "--sub", "alice", "--claim", 'x={"y":1}')
        self.assertInspected(run("token", "inspect", token), token)
        self.assertInspected(run("token", "inspect", "-", stdin=token + "\n"), token)

    def test_inspects_tokens_that_would_not_verify(self):
        t = now()
        expired = self.hs_token(exp=t - 3600, iat=t - 7200, nbf=None)
        forged = hs512_token(b"not the secret", self.claims(sub="admin"))
        for token in (expired, forged):
            self.assertInspected(run("token", "inspect", token), token)

    def test_undecodable_token_fails_with_exit_1(self):
        for token in ("abc", "a.b", "!!!.e30.x"):
            with self.subTest(token=token):
                self.assertFailsWithOneLine(run("token", "inspect", token), EXIT_FAILURE, "cannot decode")
        self.assertUsageError(run("token", "inspect"))


class TokenHelpTest(AirlockTestCase):
    def test_every_token_command_has_help(self):
        for args, words in (
            ((), ("keys", "token")),
            (("token",), ("mint", "verify", "inspect")),
            (("token", "mint"), ("--key", "--secret-file", "--alg", "--aud", "--iss", "--sub",
                                 "--scope", "--ttl", "--kid", "--claim", "NAME=JSON")),
            (("token", "verify"), ("--key", "--secret-file", "--jwks", "--alg", "--aud", "--iss",
                                   "--leeway", "exit 0", "exit 1", "exit 2")),
            (("token", "inspect"), ("WITHOUT verifying",)),
        ):
            with self.subTest(command=" ".join(args)):
                result = run(*args, "--help")
                self.assertSucceeds(result)
                self.assertIn("Usage:", result.stdout)
                for word in words:
                    self.assertIn(word, result.stdout)

    def test_verify_help_documents_the_trailing_newline_rule(self):
        out = re.sub(r"\s+", " ", run("token", "verify", "--help").stdout)
        self.assertIn("one trailing newline is dropped", out)
        self.assertIn("a private key verifies with its public half", out)


if __name__ == "__main__":
    unittest.main()
