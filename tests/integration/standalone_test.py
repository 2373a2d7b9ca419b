"""End-to-end tests of `airlock standalone`: api-server, scheduler (local executor and
supervisors) and dag-processor as separate processes, driven through the REST API.

They need the supervisor (`airlock supervise` and `airlock task ...`): a build without it
fails these tests at the first task.
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from airlock_testlib import BIN, AirlockTestCase, split_token, start

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "dags")

RETRY_DAG = """
dag_id: e2e_retry
tasks:
  - task_id: flaky
    retries: 1
    retry_delay: 1s
    command:
      - sh
      - -c
      - |
        tries=$(airlock task variable get e2e_flaky_tries 2>/dev/null || echo 0)
        airlock task variable set e2e_flaky_tries $((tries + 1))
        [ "$tries" -gt 0 ] || { echo "first try fails" >&2; exit 1; }
  - task_id: always_fails
    command: ["false"]
  - task_id: downstream
    upstream: [always_fails]
    command: ["true"]
  - task_id: further_down
    upstream: [downstream, flaky]
    command: ["true"]
  - task_id: cleanup
    upstream: [further_down]
    trigger_rule: all_done
    command: [echo, cleaned up]
"""

SLOW_DAG = """
dag_id: e2e_slow
tasks:
  - task_id: first
    command: ["true"]
  - task_id: slow
    upstream: [first]
    retries: 2
    retry_delay: 1s
    command: [sleep, "4"]
  - task_id: last
    upstream: [slow]
    command: ["true"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandaloneHarness(AirlockTestCase):
    """Starts `airlock standalone` in a temporary AIRLOCK_HOME per test (with the example
    Dags and the Dags above) and drives it through the REST API. No tests of its own:
    other files subclass it. `extra_env()` adds AIRLOCK__* options for the components."""

    def extra_env(self) -> dict:
        return {}

    def setUp(self):
        super().setUp()
        self.home = self.path("home")
        dags = os.path.join(self.home, "dags")
        os.makedirs(dags)
        for name in os.listdir(EXAMPLES):
            shutil.copy(os.path.join(EXAMPLES, name), dags)
        with open(os.path.join(dags, "e2e_retry.yaml"), "w") as f:
            f.write(RETRY_DAG)
        with open(os.path.join(dags, "e2e_slow.yaml"), "w") as f:
            f.write(SLOW_DAG)
        # Tasks run as nobody when the tests run as root: they only need to read their cwd.
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.password = None
        self.start()

    def tearDown(self):
        self.stop()
        super().tearDown()

    def start(self):
        env = dict(os.environ)
        env.update({
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRLOCK__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRLOCK__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        })
        env.update(self.extra_env())
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(self.path(f"standalone-{time.time()}.log"), "w+")
        self.addCleanup(self.log.close)
        self.proc = start(
            [BIN, "standalone", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            text = self.output()
            match = re.search(r"Password for user 'admin': (\S+)", text)
            if match:
                self.password = match.group(1)
            if "airlock standalone is running" in text:
                break
            self.assertIsNone(self.proc.poll(), text)
            time.sleep(0.1)
        else:
            self.fail("standalone did not start:\n" + self.output())
        if self.password is None:
            with open(os.path.join(self.home, "standalone", "admin-password"), "r") as f:
                self.password = f.read().strip()
        self.token = self.login()

    def output(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                self.fail("standalone did not stop within 30 s:\n" + self.output())

    def request(self, method, path, body=None, token=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token or getattr(self, "token", None):
            req.add_header("Authorization", "Bearer " + (token or self.token))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def login(self) -> str:
        self.token = None
        # argon2id on a loaded machine under ASan took over 10 s once in CI.
        status, body = self.request("POST", "/auth/token",
                                    {"username": "admin", "password": self.password}, timeout=60)
        self.assertEqual(status, 201, body)
        return body["access_token"]

    def wait_for_dag(self, dag_id, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, _ = self.request("GET", f"/api/v2/dags/{dag_id}")
            if status == 200:
                return
            time.sleep(0.2)
        self.fail(f"Dag {dag_id} never appeared:\n" + self.output())

    def trigger(self, dag_id, run_id):
        self.wait_for_dag(dag_id)
        status, body = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                                    {"dag_run_id": run_id})
        self.assertIn(status, (200, 201), body)

    def task_states(self, dag_id, run_id):
        status, body = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        self.assertEqual(status, 200, body)
        return {ti["task_id"]: ti for ti in body["task_instances"]}

    def wait_run(self, dag_id, run_id, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if status == 200 and body["state"] in ("success", "failed"):
                return body["state"]
            time.sleep(0.3)
        self.fail(f"run {dag_id}/{run_id} did not finish: "
                  f"{self.task_states(dag_id, run_id)}\n" + self.output())

    def xcom(self, dag_id, run_id, task_id, key):
        db = sqlite3.connect(os.path.join(self.home, "airlock.db"))
        try:
            row = db.execute(
                "SELECT value FROM xcom WHERE dag_id=? AND run_id=? AND task_id=? AND key=?",
                (dag_id, run_id, task_id, key)).fetchone()
        finally:
            db.close()
        return None if row is None else json.loads(row[0])


class StandaloneTest(StandaloneHarness):
    def test_example_dag_runs_to_success_passing_an_xcom(self):
        self.trigger("example_xcom", "e2e_1")
        self.assertEqual(self.wait_run("example_xcom", "e2e_1"), "success",
                         self.task_states("example_xcom", "e2e_1"))
        states = self.task_states("example_xcom", "e2e_1")
        self.assertEqual({t: ti["state"] for t, ti in states.items()},
                         {"extract": "success", "report": "success", "cleanup": "success"})
        self.assertEqual(self.xcom("example_xcom", "e2e_1", "extract", "rows"), [1, 2, 3])
        self.assertEqual(self.xcom("example_xcom", "e2e_1", "report", "summary"),
                         {"rows": [1, 2, 3], "greeting": "Hello from airlock"})
        # Per-component configuration: the dag-processor has no database URL and no key.
        with open(os.path.join(self.home, "standalone", "dag-processor.cfg")) as f:
            processor_cfg = f.read()
        self.assertNotIn("sql_alchemy_conn", processor_cfg)
        self.assertNotIn("jwt_private_key_path", processor_cfg)
        self.assertNotIn("fernet_key", processor_cfg)
        self.assertIn("api_token", processor_cfg)

    def test_retry_and_upstream_failed(self):
        self.trigger("e2e_retry", "e2e_1")
        self.assertEqual(self.wait_run("e2e_retry", "e2e_1"), "failed")
        states = self.task_states("e2e_retry", "e2e_1")
        self.assertEqual(states["flaky"]["state"], "success")
        self.assertEqual(states["flaky"]["try_number"], 2)
        self.assertEqual(states["always_fails"]["state"], "failed")
        self.assertEqual(states["downstream"]["state"], "upstream_failed")
        self.assertEqual(states["further_down"]["state"], "upstream_failed")
        self.assertEqual(states["cleanup"]["state"], "success")

    def test_killing_the_scheduler_mid_run_loses_no_task_instance(self):
        self.trigger("e2e_slow", "e2e_1")
        deadline = time.time() + 60
        while self.task_states("e2e_slow", "e2e_1").get("slow", {}).get("state") != "running":
            self.assertLess(time.time(), deadline, self.output())
            time.sleep(0.1)
        scheduler = subprocess.run(["pgrep", "-f", "-P", str(self.proc.pid), "scheduler --config"],
                                   capture_output=True, text=True).stdout.split()
        self.assertEqual(len(scheduler), 1, scheduler)
        os.kill(int(scheduler[0]), signal.SIGKILL)
        # standalone stops the other components when one dies, and exits non-zero...
        self.assertNotEqual(self.proc.wait(60), 0)
        # ...and a restart finishes the run: every task instance ends, none is lost.
        self.start()
        self.assertEqual(self.wait_run("e2e_slow", "e2e_1", timeout=120), "success",
                         self.task_states("e2e_slow", "e2e_1"))
        states = self.task_states("e2e_slow", "e2e_1")
        self.assertEqual(sorted(states), ["first", "last", "slow"])
        self.assertTrue(all(ti["state"] == "success" for ti in states.values()), states)


class StandaloneKeysTest(StandaloneHarness):
    """The signing keys of `airlock standalone`: a key directory, rotated while it runs."""

    def key_dir(self):
        return os.path.join(self.home, "standalone", "jwt_keys")

    def published_kids(self):
        with urllib.request.urlopen(self.base + "/.well-known/jwks.json", timeout=10) as r:
            return sorted(key["kid"] for key in json.loads(r.read())["keys"])

    def keys_in_directory(self):
        """{kid: state} from `airlock keys rotate`'s manifest."""
        with open(os.path.join(self.key_dir(), "keys.json")) as f:
            return {k["kid"]: k["state"] for k in json.load(f)["keys"]}

    def test_keys_rotate_while_standalone_runs_and_tasks_still_run(self):
        before = self.keys_in_directory()
        self.assertEqual(sorted(before.values()), ["active", "next"])
        self.assertEqual(self.published_kids(), sorted(before))
        with open(os.path.join(self.home, "standalone", "api-server.cfg")) as f:
            self.assertIn("jwt_private_key_path = " + self.key_dir(), f.read())
        active = next(kid for kid, state in before.items() if state == "active")
        self.assertEqual(split_token(self.token)[0]["kid"], active)
        old_token = self.token

        result = subprocess.run([BIN, "keys", "rotate", "--dir", self.key_dir()],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        after = self.keys_in_directory()
        new_active = next(kid for kid, state in after.items() if state == "active")
        self.assertNotEqual(new_active, active)

        # The same processes pick the rotation up (they check the manifest every 5 s).
        deadline = time.time() + 60
        while self.published_kids() != sorted(after):
            self.assertLess(time.time(), deadline, self.output())
            time.sleep(0.5)
        self.token = old_token
        self.assertEqual(self.request("GET", "/api/v2/dags")[0], 200)  # retired, still valid
        self.assertEqual(split_token(self.login())[0]["kid"], new_active)
        # Tasks still run: the scheduler's tokens (its key set reloads the same way) are
        # taken by the api-server.
        self.token = self.login()
        self.trigger("example_xcom", "after_rotation")
        self.assertEqual(self.wait_run("example_xcom", "after_rotation"), "success",
                         self.task_states("example_xcom", "after_rotation"))

    def test_a_home_with_the_older_single_key_file_keeps_it(self):
        self.stop()
        legacy = os.path.join(self.home, "standalone", "jwt_signing_key.pem")
        result = subprocess.run([BIN, "keys", "generate", "--type", "ed25519", "--out", legacy],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        thumbprint = subprocess.run([BIN, "keys", "thumbprint", legacy], capture_output=True,
                                    text=True, timeout=60).stdout.strip()
        self.start()
        with open(os.path.join(self.home, "standalone", "api-server.cfg")) as f:
            self.assertIn("jwt_private_key_path = " + legacy, f.read())
        self.assertEqual(self.published_kids(), [thumbprint])
        self.assertEqual(split_token(self.token)[0]["kid"], thumbprint)


if __name__ == "__main__":
    unittest.main()
