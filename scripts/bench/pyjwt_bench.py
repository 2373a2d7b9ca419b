#!/usr/bin/python3
"""PyJWT (what Airflow uses) on the JWT benchmark workload of SPEC §10.

Prints one JSON line per (alg, op), in the shape of `airlock bench jwt --json`:
  {"peer":"pyjwt","alg":"HS512","op":"verify","ops_per_s":N}

The workload is the one of src/bench/jwt_bench.cc, byte for byte in shape:
  header  {"alg":…,"kid":…,"typ":"JWT"} (no kid for HS512; PyJWT sorts header keys, which
          gives airlock's order);
  claims  {"jti","iss":"airlock-bench","aud":"urn:airflow.apache.org:task","sub":…,
          "scope":"execution","iat","nbf","exp":iat+600}, jti a fresh uuid4 hex per sign;
  keys    a 64-byte HS512 secret, RSA-2048 (e = 65537), Ed25519, each prepared once (PyJWT
          is given key objects, so no call parses key material);
  verify  signature, exp, iat and nbf (required: exp, iat), aud, iss, leeway 10 s.
Single thread; each (alg, op) is warmed up with 32 operations, then run for --seconds in
10 slices, reading the clock every 16 operations, and the best slice is reported, as
airlock's MeasurePair() does (the slice least disturbed by other work on the machine).

Run it with Debian's python3 (/usr/bin/python3), which has python3-jwt and
python3-cryptography.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

AUDIENCE = "urn:airflow.apache.org:task"
ISSUER = "airlock-bench"
SUBJECT = "0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11"
ALGS = ("HS512", "RS256", "EdDSA")
OPS = ("sign", "verify")
ROUNDS = 10  # slices per (alg, op); the best one is reported, as airlock's bench does


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def thumbprint(members: dict) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def bench_key(alg: str):
    """(signing key, verification key, kid or None) for `alg`, like BenchKey()."""
    if alg == "HS512":
        secret = os.urandom(64)
        return secret, secret, None
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.public_key().public_numbers()
        kid = thumbprint(
            {"e": b64url(int_bytes(numbers.e)), "kty": "RSA", "n": b64url(int_bytes(numbers.n))}
        )
        return private, private.public_key(), kid
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        x = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        kid = thumbprint({"crv": "Ed25519", "kty": "OKP", "x": b64url(x)})
        return private, private.public_key(), kid
    raise ValueError(f"unknown algorithm {alg}")


def mint(alg: str, signing_key, kid) -> str:
    """A fresh token, as airlock's TokenSigner::Mint makes it: new jti, now, +600 s."""
    now = int(time.time())
    claims = {
        "jti": uuid.uuid4().hex,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "scope": "execution",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, signing_key, algorithm=alg, headers=headers)


def measure_slice(seconds: float, op) -> float:
    """Operations per second of `op` over `seconds`, reading the clock every 16 ops."""
    start = time.perf_counter()
    deadline = start + seconds
    count = 0
    while True:
        for _ in range(16):
            op()
        count += 16
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def measure(seconds: float, op) -> float:
    """As airlock's MeasurePair(): warm-up, then the best of ROUNDS slices."""
    for _ in range(32):
        op()
    return max(measure_slice(seconds / ROUNDS, op) for _ in range(ROUNDS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alg", action="append", choices=ALGS, help="repeatable; default all")
    parser.add_argument("--op", action="append", choices=OPS, help="repeatable; default both")
    parser.add_argument("--seconds", type=float, default=2.0, help="per (alg, op); default 2")
    args = parser.parse_args()

    for alg in args.alg or ALGS:
        signing_key, verification_key, kid = bench_key(alg)
        token = mint(alg, signing_key, kid)

        def verify(token=token, key=verification_key, alg=alg):
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=10,
                options={"require": ["exp", "iat"]},
            )

        verify()  # A benchmark of failures would measure the wrong thing.
        for op in args.op or OPS:
            fn = (lambda: mint(alg, signing_key, kid)) if op == "sign" else verify
            rate = measure(args.seconds, fn)
            print(json.dumps({"peer": "pyjwt", "alg": alg, "op": op, "ops_per_s": round(rate)},
                             separators=(",", ":")))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
