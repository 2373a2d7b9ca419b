"""Deferral end to end under `airlock standalone`: tasks defer on each built-in trigger
(datetime, file, http) and on a user trigger (exec); the triggerer, which holds no database
URL and no key, fires them; the tasks run again in the same try and read the event.
A user trigger that fails fails its task, not the triggerer; a trigger that does not fire
before its timeout fails its task.
"""

import http.server
import json
import os
import shlex
import subprocess
import threading
import time

from airlock_testlib import BIN, start
from standalone_test import StandaloneHarness


def deferring_task(task_id, kind, args, timeout=120):
    """A task that defers on (kind, args) and, once resumed, pushes the event as an XCom."""
    script = (
        'if event=$(airlock task trigger-event 2>/dev/null); then '
        'airlock task xcom push event "$event"; exit 0; fi; '
        f"airlock task defer --trigger {kind} --args {shlex.quote(json.dumps(args))} "
        f"--timeout {timeout} || exit 1; "
        "echo 'still here after defer'; sleep 60")
    return {"task_id": task_id, "command": ["sh", "-c", script]}


class StatusServer(http.server.BaseHTTPRequestHandler):
    status = 503

    def do_GET(self):
        self.send_response(StatusServer.status)
        self.end_headers()

    def log_message(self, *args):
        pass


class DeferralTest(StandaloneHarness):
    def extra_env(self):
        return {"AIRLOCK__TRIGGERER__POLL_INTERVAL": "0.5"}

    def setUp(self):
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StatusServer)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.addCleanup(self.http.shutdown)
        super().setUp()
        # Paths the triggerer (and, as root, the user trigger running as nobody) can see.
        self.flag = self.path("flag")
        self.exec_flag = self.path("exec-flag")
        url = f"http://127.0.0.1:{self.http.server_address[1]}/ready"
        dag = {
            "dag_id": "e2e_defer",
            "tasks": [
                deferring_task("on_time", "datetime", {"delay_seconds": 2}),
                deferring_task("on_file", "file", {"path": self.flag, "poll_interval": 0.2}),
                deferring_task("on_http", "http", {"url": url, "poll_interval": 0.2}),
                deferring_task("on_exec", "exec", {"argv": [
                    "sh", "-c",
                    f"while [ ! -e {self.exec_flag} ]; do sleep 0.2; done; "
                    "echo '{\"found\": true}'"]}),
                deferring_task("exec_fails", "exec", {"argv": ["sh", "-c", "exit 3"]}),
                deferring_task("times_out", "datetime", {"delay_seconds": 3600}, timeout=3),
            ],
        }
        # JSON is YAML: the Dag file is written as JSON.
        with open(os.path.join(self.home, "dags", "e2e_defer.yaml"), "w") as f:
            json.dump(dag, f)

    def wait_state(self, task_id, states, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ti = self.task_states("e2e_defer", "d1").get(task_id, {})
            if ti.get("state") in states:
                return ti
            time.sleep(0.2)
        self.fail(f"{task_id} never reached {states}: "
                  f"{self.task_states('e2e_defer', 'd1')}\n" + self.output())

    def test_every_trigger_kind_defers_and_resumes_its_task(self):
        self.trigger("e2e_defer", "d1")
        # The file, http and exec triggers cannot fire yet: their tasks wait, deferred.
        for task_id in ("on_file", "on_http", "on_exec"):
            self.wait_state(task_id, ("deferred",))
        time.sleep(1)
        for task_id in ("on_file", "on_http", "on_exec"):
            self.assertEqual(self.task_states("e2e_defer", "d1")[task_id]["state"], "deferred")
        # A failing user trigger fails its task; the triggerer lives on.
        self.assertEqual(self.wait_state("exec_fails", ("failed", "success"))["state"], "failed")
        # The date/time trigger fires by itself.
        self.wait_state("on_time", ("success",))
        # Now make the conditions true.
        with open(self.flag, "w"):
            pass
        StatusServer.status = 200
        with open(self.exec_flag, "w"):
            pass
        self.assertEqual(self.wait_run("e2e_defer", "d1", timeout=90), "failed")
        states = self.task_states("e2e_defer", "d1")
        self.assertEqual({t: ti["state"] for t, ti in states.items()}, {
            "on_time": "success", "on_file": "success", "on_http": "success",
            "on_exec": "success", "exec_fails": "failed", "times_out": "failed"})
        # Resumed in the same try, with the event's payload.
        for task_id in ("on_time", "on_file", "on_http", "on_exec"):
            self.assertEqual(states[task_id]["try_number"], 1, task_id)
        self.assertIn("moment", self.xcom("e2e_defer", "d1", "on_time", "event"))
        self.assertEqual(self.xcom("e2e_defer", "d1", "on_file", "event"), {"path": self.flag})
        self.assertEqual(self.xcom("e2e_defer", "d1", "on_http", "event")["status"], 200)
        self.assertEqual(self.xcom("e2e_defer", "d1", "on_exec", "event"), {"found": True})
        self.assertIsNone(self.proc.poll(), "standalone stopped:\n" + self.output())

        # The task log tells the story; the deferring try did nothing after `defer`.
        status, body = self.request(
            "GET", "/api/v2/dags/e2e_defer/dagRuns/d1/taskInstances/on_file/logs/1")
        self.assertEqual(status, 200, body)
        text = json.dumps(body)
        self.assertIn("deferred on a file trigger", text)
        self.assertIn("resumed by a trigger event", text)

    def test_the_triggerer_holds_no_database_url_and_no_key(self):
        cfg = os.path.join(self.home, "standalone", "triggerer.cfg")
        with open(cfg) as f:
            text = f.read()
        self.assertIn("api_token", text)
        for secret in ("sql_alchemy_conn", "jwt_private_key_path", "jwt_secret", "fernet_key"):
            self.assertNotIn(secret, text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK__")}
        env["AIRLOCK_HOME"] = self.home
        check = subprocess.run(
            [BIN, "config", "check", "--component", "triggerer", "--config", cfg],
            capture_output=True, text=True, env=env)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class TwoTriggerersTest(StandaloneHarness):
    """A second `airlock triggerer` beside standalone's: the two split the triggers through
    leases, and when one is killed the other takes its triggers over once their leases end.
    Every trigger fires once: each task ends in success in its first try."""

    TASKS = 10

    def extra_env(self):
        return {"AIRLOCK__TRIGGERER__CAPACITY": "5", "AIRLOCK__TRIGGERER__LEASE_SECONDS": "5",
                "AIRLOCK__TRIGGERER__POLL_INTERVAL": "0.5"}

    def setUp(self):
        super().setUp()
        self.flag = self.path("go")
        dag = {"dag_id": "e2e_two_triggerers",
               "tasks": [deferring_task(f"t{i}", "file", {"path": self.flag, "poll_interval": 0.2})
                         for i in range(self.TASKS)]}
        with open(os.path.join(self.home, "dags", "e2e_two_triggerers.yaml"), "w") as f:
            json.dump(dag, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK__")}
        env["AIRLOCK_HOME"] = self.home
        self.second_log = open(self.path("second-triggerer.log"), "w+")
        self.addCleanup(self.second_log.close)
        self.second = start(
            [BIN, "triggerer", "--config",
             os.path.join(self.home, "standalone", "triggerer.cfg")],
            stdout=self.second_log, stderr=subprocess.STDOUT, env=env)
        self.addCleanup(lambda: self.second.poll() is None and self.second.kill())

    def holders(self):
        import sqlite3
        db = sqlite3.connect(os.path.join(self.home, "airlock.db"))
        try:
            rows = db.execute("SELECT triggerer_id FROM task_trigger").fetchall()
        finally:
            db.close()
        return [r[0] for r in rows]

    def test_triggers_are_split_and_taken_over_when_a_triggerer_dies(self):
        self.trigger("e2e_two_triggerers", "r1")
        deadline = time.time() + 60
        while True:
            holders = self.holders()
            if len(holders) == self.TASKS and "" not in holders:
                break
            self.assertLess(time.time(), deadline, f"{holders}\n" + self.output())
            time.sleep(0.2)
        self.assertEqual(len(set(holders)), 2, holders)  # capacity 5 each: both hold five
        self.second.kill()
        self.second.wait()
        with open(self.flag, "w"):
            pass
        self.assertEqual(self.wait_run("e2e_two_triggerers", "r1", timeout=90), "success",
                         self.task_states("e2e_two_triggerers", "r1"))
        for task_id, ti in self.task_states("e2e_two_triggerers", "r1").items():
            self.assertEqual((ti["state"], ti["try_number"]), ("success", 1), task_id)
            self.assertEqual(self.xcom("e2e_two_triggerers", "r1", task_id, "event"),
                             {"path": self.flag})


if __name__ == "__main__":
    import unittest
    unittest.main()
