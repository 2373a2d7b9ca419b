#!/usr/bin/env bash
# Builds airlock and runs a short token demo: generate an Ed25519 key and an HMAC secret,
# publish the JWKS, mint an Execution API token, verify it, and show that a tampered copy
# is refused. (Until the scheduler exists, this is airlock's "main job"; it becomes
# `airlock standalone` then.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build >/dev/null
airlock=$PWD/build/src/bin/airlock
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT

echo "== airlock keys generate --type ed25519 --out signing.pem"
kid=$("$airlock" keys generate --type ed25519 --out "$demo/signing.pem")
echo "kid: $kid"
echo "== airlock keys jwks signing.pem"
"$airlock" keys jwks "$demo/signing.pem" | tee "$demo/jwks.json"
echo "== airlock token mint (EdDSA, execution scope, 600 s)"
token=$("$airlock" token mint --key "$demo/signing.pem" --aud urn:airflow.apache.org:task \
  --iss airlock-demo --sub 0195f3a2-7c2e-7a44-9f36-3f1c2b9d8e11 --scope execution --ttl 600)
echo "$token"
echo "== airlock token verify --jwks jwks.json"
echo "$token" | "$airlock" token verify --jwks "$demo/jwks.json" \
  --aud urn:airflow.apache.org:task --iss airlock-demo -
echo "== a token with one payload byte changed is refused"
tampered="${token%%.*}.$(echo "$token" | cut -d. -f2 | sed 's/^./X/').${token##*.}"
if "$airlock" token verify --jwks "$demo/jwks.json" --aud urn:airflow.apache.org:task "$tampered"; then
  echo "demo: the tampered token was accepted" >&2
  exit 1
fi
echo "== HS512 with a generated secret"
"$airlock" keys generate --type secret --out "$demo/secret"
"$airlock" token mint --secret-file "$demo/secret" --aud demo --sub alice --ttl 60 \
  | "$airlock" token verify --secret-file "$demo/secret" --aud demo -
echo "demo finished"
