#!/usr/bin/python3
"""The peer of SPEC §10's heartbeat figure: a FastAPI + PyJWT server doing what
airlock's PUT /execution/task-instances/{id}/heartbeat does, on the same database.

Per request: the bearer token is verified with PyJWT (signature, exp, iat, nbf with a
10 s leeway, audience urn:airflow.apache.org:task; exp, iat, sub and jti required), its
scope must be "execution" and its sub the task instance of the path; the JSON body
{"hostname", "pid"} is validated by a pydantic model; the heartbeat is written with the
same conditional UPDATE as airlock's, and an audit_log row is inserted, in one
transaction per request (what an ordinary FastAPI service does: no group commit).
Answers: 204, 401 (bad token), 403 (scope or sub), 409 (not running with that hostname
and pid), 422 (bad body).

The database is the SQLite file airlock's `bench heartbeat-fixture` filled
($AIRLOCK_HOME/airlock.db). airlock keeps its audit log in a file of its own
(airlock.db-audit); this peer keeps an audit_log table in the same file, created at
start, so that its work per request stays one transaction in one file, as an ordinary
service's would, and as it was before airlock moved its audit log. The key is airlock's:
the HS512 secret in
AIRLOCK__API_AUTH__JWT_SECRET, or the Ed25519 private key at
AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH (its public half verifies).

  /usr/bin/python3 scripts/bench/fastapi_heartbeat.py --port 18081 --workers 2

uvicorn runs `--workers` processes with uvloop and httptools and no access log: the
fastest configuration Debian 12's packages give (python3-fastapi, python3-uvicorn,
python3-uvloop, python3-httptools, python3-jwt, python3-cryptography).
"""

import argparse
import os
import sqlite3
import time

import jwt
import uvicorn
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from fastapi import FastAPI, Header, HTTPException, Response
from pydantic import BaseModel

AUDIENCE = "urn:airflow.apache.org:task"


def load_key():
    secret = os.environ.get("AIRLOCK__API_AUTH__JWT_SECRET")
    if secret:
        return secret.encode(), "HS512"
    path = os.environ["AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH"]
    with open(path, "rb") as f:
        return load_pem_private_key(f.read(), password=None).public_key(), "EdDSA"


KEY, ALGORITHM = load_key()
DATABASE = os.path.join(os.environ["AIRLOCK_HOME"], "airlock.db")


class HeartbeatBody(BaseModel):
    hostname: str
    pid: int


app = FastAPI()
connection = None


@app.on_event("startup")
def open_database():
    global connection
    connection = sqlite3.connect(DATABASE, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS audit_log (id INTEGER PRIMARY KEY, time BIGINT NOT NULL, "
        "component TEXT NOT NULL, jti TEXT NOT NULL, sub TEXT NOT NULL, method TEXT NOT NULL, "
        "path TEXT NOT NULL, status INTEGER NOT NULL)")


@app.put("/execution/task-instances/{ti_id}/heartbeat", status_code=204)
async def heartbeat(ti_id: str, body: HeartbeatBody, authorization: str = Header("")):
    if not authorization.startswith("Bearer "):
        raise HTTPException(401, "Missing or invalid authorization header")
    try:
        claims = jwt.decode(
            authorization[len("Bearer "):], KEY, algorithms=[ALGORITHM], audience=AUDIENCE,
            leeway=10, options={"require": ["exp", "iat", "sub", "jti"]})
    except jwt.InvalidTokenError:
        raise HTTPException(401, "Invalid auth token")
    if claims.get("scope", "execution") != "execution":
        raise HTTPException(403, "Token type not allowed for this route")
    if claims["sub"] != ti_id:
        raise HTTPException(403, "Token subject does not match the task instance")
    now = int(time.time() * 1_000_000)
    connection.execute("BEGIN IMMEDIATE")
    try:
        updated = connection.execute(
            "UPDATE task_instance SET last_heartbeat_at = ? WHERE id = ? AND state = 'running' "
            "AND hostname = ? AND pid = ?", (now, ti_id, body.hostname, body.pid)).rowcount
        connection.execute(
            "INSERT INTO audit_log (time, component, jti, sub, method, path, status) "
            "VALUES (?, 'fastapi', ?, ?, 'PUT', ?, ?)",
            (now, claims["jti"], claims["sub"], f"/execution/task-instances/{ti_id}/heartbeat",
             204 if updated else 409))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    if not updated:
        raise HTTPException(409, "Task instance is not running with this hostname and pid")
    return Response(status_code=204)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run("fastapi_heartbeat:app", app_dir=os.path.dirname(os.path.abspath(__file__)),
                host=args.host, port=args.port, workers=args.workers, loop="uvloop",
                http="httptools", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
