"""`airlock dags list|trigger|state` and `airlock tasks logs` against `airlock standalone`:
the REST API clients log in at /auth/token/cli (password from stdin or AIRLOCK_PASSWORD,
never an argument) or use AIRLOCK_API_TOKEN, and report 401/403/404 in one line with
exit code 1 and bad usage with exit code 2.
"""

import os
import subprocess
import time

from airlock_testlib import BIN, EXIT_FAILURE, EXIT_USAGE
from standalone_test import StandaloneHarness


class DagsCliTest(StandaloneHarness):
    def cli(self, *args, stdin=None, env=None, password=True):
        """Runs airlock with the api-server's URL; the admin password from stdin unless
        `password` is False or `stdin` is given."""
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("AIRLOCK_") or k == "AIRLOCK_BIN"}
        full_env["AIRLOCK_HOME"] = self.path("client-home")
        full_env.update(env or {})
        argv = [BIN, *args, "--api-url", self.base]
        if password and stdin is None:
            argv += ["--username", "admin", "--password-stdin"]
            stdin = self.password + "\n"
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              env=full_env, timeout=60)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code,
                         "stdout=%r stderr=%r" % (result.stdout, result.stderr))

    def wait_listed(self, dag_id):
        deadline = time.time() + 30
        while True:
            result = self.cli("dags", "list")
            self.assertExit(result, 0)
            if any(line.split("\t")[0] == dag_id for line in result.stdout.splitlines()):
                return result
            self.assertLess(time.time(), deadline, result.stdout + self.output())
            time.sleep(0.3)

    def test_list_trigger_state_and_logs(self):
        listed = self.wait_listed("example_xcom")
        self.assertEqual(listed.stdout.splitlines()[0], "dag_id\tis_paused\tfileloc")

        triggered = self.cli("dags", "trigger", "example_xcom", "--run-id", "cli_1",
                             "--conf", '{"source": "cli"}')
        self.assertExit(triggered, 0)
        self.assertIn("Created run cli_1 of Dag example_xcom", triggered.stdout)
        status, run = self.request("GET", "/api/v2/dags/example_xcom/dagRuns/cli_1")
        self.assertEqual(status, 200, run)
        self.assertEqual(run["conf"], {"source": "cli"})

        self.assertEqual(self.wait_run("example_xcom", "cli_1"), "success")
        state = self.cli("dags", "state", "example_xcom", "cli_1")
        self.assertExit(state, 0)
        lines = state.stdout.splitlines()
        self.assertEqual(lines[0], "success")
        self.assertIn("extract\tsuccess\t1", lines[1:])

        # A run id the default form would give (colons, plus) survives percent-encoding.
        odd = self.cli("dags", "trigger", "example_xcom", "--run-id", "manual__2026-01-01T00:00:00+00:00")
        self.assertExit(odd, 0)
        self.assertExit(self.cli("dags", "state", "example_xcom",
                                 "manual__2026-01-01T00:00:00+00:00"), 0)

        logs = self.cli("tasks", "logs", "example_xcom", "cli_1", "extract")
        self.assertExit(logs, 0)
        self.assertTrue(logs.stdout.strip(), logs)
        self.assertExit(self.cli("tasks", "logs", "example_xcom", "cli_1", "extract",
                                 "--try", "1"), 0)
        missing_try = self.cli("tasks", "logs", "example_xcom", "cli_1", "extract", "--try", "7")
        self.assertExit(missing_try, EXIT_FAILURE)
        self.assertIn("404", missing_try.stderr)

    def test_password_from_environment_and_token_from_environment(self):
        # The two listings below must see the same Dags: wait for the dag-processor's first
        # pass to have submitted every file (under ASan it was seen mid-pass).
        for dag_id in ("example_xcom", "example_retry", "example_deferral", "e2e_retry",
                       "e2e_slow"):
            self.wait_listed(dag_id)
        by_env = self.cli("dags", "list", "--username", "admin", password=False,
                          env={"AIRLOCK_PASSWORD": self.password})
        self.assertExit(by_env, 0)
        by_token = self.cli("dags", "list", password=False, env={"AIRLOCK_API_TOKEN": self.token})
        self.assertExit(by_token, 0)
        self.assertEqual(by_env.stdout, by_token.stdout)
        # Without --api-url: [cli] api_url.
        by_config = subprocess.run(
            [BIN, "dags", "list"], capture_output=True, text=True,
            env={"PATH": os.environ.get("PATH", ""), "AIRLOCK_HOME": self.path("client-home"),
                 "AIRLOCK__CLI__API_URL": self.base + "/", "AIRLOCK_API_TOKEN": self.token})
        self.assertExit(by_config, 0)
        self.assertEqual(by_config.stdout, by_token.stdout)
        # The password and the token never appear in the output.
        for result in (by_env, by_token):
            self.assertNotIn(self.password, result.stdout + result.stderr)
            self.assertNotIn(self.token, result.stdout + result.stderr)

    def test_errors_are_one_line_with_exit_codes(self):
        wrong = self.cli("dags", "list", "--username", "admin", "--password-stdin",
                         stdin="not-the-password\n")
        self.assertExit(wrong, EXIT_FAILURE)
        self.assertEqual(wrong.stderr.count("\n"), 1, wrong.stderr)
        self.assertIn("401", wrong.stderr)
        self.assertIn("Invalid credentials", wrong.stderr)
        self.assertNotIn("not-the-password", wrong.stderr)

        forged = self.cli("dags", "list", password=False,
                          env={"AIRLOCK_API_TOKEN": self.token[:-4] + "AAAA"})
        self.assertExit(forged, EXIT_FAILURE)
        self.assertIn("403", forged.stderr)
        self.assertEqual(forged.stderr.count("\n"), 1, forged.stderr)

        missing = self.cli("dags", "state", "no_such_dag", "no_such_run")
        self.assertExit(missing, EXIT_FAILURE)
        self.assertIn("404", missing.stderr)
        self.assertEqual(missing.stderr.count("\n"), 1, missing.stderr)
        self.assertExit(self.cli("dags", "trigger", "no_such_dag"), EXIT_FAILURE)

        # A VIEWER may read but not trigger (403).
        created = subprocess.run(
            [BIN, "users", "create", "--username", "viewer", "--role", "VIEWER",
             "--password-stdin", "--config", os.path.join(self.home, "standalone",
                                                         "api-server.cfg")],
            input="viewer-password-123\n", capture_output=True, text=True,
            env={**os.environ, "AIRLOCK_HOME": self.home})
        self.assertExit(created, 0)
        viewer = dict(stdin="viewer-password-123\n")
        self.wait_listed("example_xcom")
        self.assertExit(self.cli("dags", "list", "--username", "viewer", "--password-stdin",
                                 **viewer), 0)
        refused = self.cli("dags", "trigger", "example_xcom", "--username", "viewer",
                           "--password-stdin", **viewer)
        self.assertExit(refused, EXIT_FAILURE)
        self.assertIn("403", refused.stderr)

    def test_usage_errors(self):
        no_credentials = self.cli("dags", "list", password=False)
        self.assertExit(no_credentials, EXIT_USAGE)
        self.assertIn("AIRLOCK_API_TOKEN", no_credentials.stderr)
        self.assertExit(self.cli("dags", "trigger", "example_xcom", "--conf", "[1, 2]"),
                        EXIT_USAGE)
        self.assertExit(self.cli("dags", "trigger", "example_xcom", "--conf", "{not json"),
                        EXIT_USAGE)
        self.assertExit(self.cli("dags", "state", "example_xcom"), EXIT_USAGE)
        self.assertExit(self.cli("dags", "list", "--password", "x"), EXIT_USAGE)
        # Nothing listens on the default port of a fresh config: one line, exit 1.
        refused = subprocess.run(
            [BIN, "dags", "list", "--api-url", "http://127.0.0.1:9"],
            capture_output=True, text=True, env={**os.environ, "AIRLOCK_API_TOKEN": "x.y.z"})
        self.assertExit(refused, EXIT_FAILURE)
        self.assertEqual(refused.stderr.count("\n"), 1, refused.stderr)


if __name__ == "__main__":
    import unittest

    unittest.main()
