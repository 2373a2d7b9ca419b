"""End-to-end tests of executable Dag files: `airlock standalone` with a dags folder that
holds a good executable file (and a second bundle for another team), bad ones (hangs, exits non-zero, prints garbage, prints
100 MB) and one that tries to read the dag-processor's environ, the database and the
processor's token file. Driven through the REST API: the good Dags appear and run, each bad
file is one import error at GET /api/v2/importErrors, and a fixed file loads on its next
look.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from airlock_testlib import BIN, EXIT_FAILURE, AirlockTestCase, start
from api_server_test import SECRET, ApiServer

GOOD = """#!/usr/bin/python3
import json
print(json.dumps({"dag_id": "exec_good", "description": "made by a program",
                  "tasks": [{"task_id": "hello", "command": ["echo", "hello"]},
                            {"task_id": "bye", "command": ["true"], "upstream": ["hello"]}]}))
"""

# Reports what it could read as its Dag's description: the dag-processor's environ (its
# parent), the database and the processor's own configuration (which holds its token).
PEEK = """#!/usr/bin/python3
import json, os, sys
home = HOME
results = []
for what, path in [("environ", "/proc/%d/environ" % os.getppid()),
                   ("database", home + "/airlock.db"),
                   ("token", home + "/standalone/dag-processor.cfg")]:
    try:
        with open(path, "rb") as f:
            f.read()
        results.append(what + "=read")
    except OSError as e:
        results.append(what + "=" + type(e).__name__)
results.append("airlock_env=%d" % len([k for k in os.environ if k.startswith("AIRLOCK")]))
print(json.dumps({"dag_id": "exec_peek", "description": " ".join(results),
                  "tasks": [{"task_id": "t", "command": ["true"]}]}))
"""

BAD = {
    "hang.sh": "#!/bin/sh\nexec sleep 600\n",
    "fail.py": "#!/usr/bin/python3\nimport etl_lib_that_does_not_exist\n",
    "garbage.sh": "#!/bin/sh\necho 'dag_id = nope'\n",
    "huge.py": ("#!/usr/bin/python3\nimport sys\nchunk = 'x' * (1 << 20)\n"
                "for _ in range(100):\n    sys.stdout.write(chunk)\n"),
}

FIXED = """#!/usr/bin/python3
import json
print(json.dumps({"dag_id": "exec_fixed", "tasks": [{"task_id": "a", "command": ["true"]}]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ExecutableDagFilesTest(AirlockTestCase):
    def setUp(self):
        super().setUp()
        self.home = self.path("home")
        os.makedirs(self.home)
        # Dag files run as nobody when the tests run as root: they must reach their folder,
        # which therefore is not under AIRLOCK_HOME (standalone makes that 0700).
        self.dags = self.path("dags")
        os.makedirs(self.dags)
        os.chmod(self.dir, 0o755)
        os.chmod(self.dags, 0o755)
        # A second bundle, for another team.
        self.dags_b = self.path("dags-team-b")
        os.makedirs(self.dags_b)
        os.chmod(self.dags_b, 0o755)
        with open(os.path.join(self.dags_b, "b.yaml"), "w") as f:
            f.write("dag_id: team_b_yaml\ntasks:\n  - task_id: a\n    command: [\"true\"]\n")
        os.chmod(os.path.join(self.dags_b, "b.yaml"), 0o644)
        self.write_dag("good.py", GOOD)
        self.write_dag("peek.py", PEEK.replace("HOME", repr(self.home), 1))
        for name, text in BAD.items():
            self.write_dag(name, text)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update({
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__CORE__DAGS_FOLDER": self.dags,
            "AIRLOCK__DAG_PROCESSOR__BUNDLES": json.dumps([
                {"name": "dags-folder", "path": self.dags},
                {"name": "team-b", "path": self.dags_b}]),
            "AIRLOCK__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
            "AIRLOCK__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "1",
            "AIRLOCK__DAG_PROCESSOR__FILE_PARSING_TIMEOUT": "2",
            "AIRLOCK__DAG_PROCESSOR__MAX_OUTPUT_BYTES": "1048576",
            "AIRLOCK__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        })
        self.log = open(self.path("standalone.log"), "w+")
        self.addCleanup(self.log.close)
        self.proc = start(
            [BIN, "standalone", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.addCleanup(self.stop)
        self.token = None
        password = None
        deadline = time.time() + 60
        while time.time() < deadline:
            text = self.output()
            match = re.search(r"Password for user 'admin': (\S+)", text)
            if match:
                password = match.group(1)
            if "airlock standalone is running" in text:
                break
            self.assertIsNone(self.proc.poll(), text)
            time.sleep(0.1)
        else:
            self.fail("standalone did not start:\n" + self.output())
        status, body = self.request("POST", "/auth/token",
                                    {"username": "admin", "password": password})
        self.assertEqual(status, 201, body)
        self.token = body["access_token"]

    def write_dag(self, name, text):
        path = os.path.join(self.dags, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def output(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_for(self, what, check, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            result = check()
            if result:
                return result
            time.sleep(0.3)
        self.fail(f"{what} did not happen:\n" + self.output()[-5000:])

    def dag(self, dag_id):
        status, body = self.request("GET", f"/api/v2/dags/{dag_id}")
        return body if status == 200 else None

    def import_errors(self):
        status, body = self.request("GET", "/api/v2/importErrors")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["total_entries"], len(body["import_errors"]))
        return {e["filename"]: e for e in body["import_errors"]}

    def test_good_files_load_and_each_bad_file_is_one_import_error(self):
        good = self.wait_for("exec_good", lambda: self.dag("exec_good"))
        self.assertEqual(good["description"], "made by a program")
        self.assertEqual(good["fileloc"], "good.py")

        errors = self.wait_for("four import errors",
                               lambda: (e := self.import_errors()) and len(e) == 4 and e)
        self.assertEqual(sorted(errors), ["fail.py", "garbage.sh", "hang.sh", "huge.py"])
        self.assertEqual(errors["hang.sh"]["stack_trace"],
                         "hang.sh: timed out after 2 s and was killed")
        self.assertTrue(errors["fail.py"]["stack_trace"].startswith(
            "fail.py: exited with code 1\nTraceback"), errors["fail.py"])
        self.assertIn("ModuleNotFoundError", errors["fail.py"]["stack_trace"])
        self.assertTrue(errors["garbage.sh"]["stack_trace"].startswith(
            "garbage.sh: the output is not valid JSON"), errors["garbage.sh"])
        self.assertEqual(errors["huge.py"]["stack_trace"],
                         "huge.py: printed more than 1048576 bytes on stdout and was killed")
        for e in errors.values():
            self.assertEqual(e["bundle_name"], "dags-folder")
            self.assertIsInstance(e["import_error_id"], int)
            self.assertRegex(e["timestamp"], r"^\d{4}-\d\d-\d\dT")
        status, one = self.request("GET", f"/api/v2/importErrors/{errors['hang.sh']['import_error_id']}")
        self.assertEqual(status, 200, one)
        self.assertEqual(one["filename"], "hang.sh")

        # The Dag a program printed runs like any other.
        status, body = self.request("POST", "/api/v2/dags/exec_good/dagRuns",
                                    {"dag_run_id": "r1"})
        self.assertIn(status, (200, 201), body)

        def finished():
            status, run = self.request("GET", "/api/v2/dags/exec_good/dagRuns/r1")
            return status == 200 and run["state"] in ("success", "failed") and run["state"]
        self.assertEqual(self.wait_for("run r1", finished, timeout=90), "success")

        # A fixed file loads on its next look and its import error goes away; the others stay.
        os.remove(os.path.join(self.dags, "fail.py"))
        self.write_dag("fail.py", FIXED)
        self.wait_for("exec_fixed", lambda: self.dag("exec_fixed"))
        errors = self.wait_for("three import errors",
                               lambda: (e := self.import_errors()) and len(e) == 3 and e)
        self.assertNotIn("fail.py", errors)

    def test_each_bundle_is_read_and_stored_under_its_name(self):
        dag = self.wait_for("team_b_yaml", lambda: self.dag("team_b_yaml"))
        self.assertEqual(dag["bundle_name"], "team-b")
        self.assertEqual(dag["fileloc"], "b.yaml")
        good = self.wait_for("exec_good", lambda: self.dag("exec_good"))
        self.assertEqual(good["bundle_name"], "dags-folder")

    def test_a_dag_file_cannot_read_the_processors_secrets(self):
        peek = self.wait_for("exec_peek", lambda: self.dag("exec_peek"))
        results = dict(item.split("=") for item in peek["description"].split())
        self.assertEqual(results["environ"], "PermissionError", peek)
        self.assertEqual(results["airlock_env"], "0", peek)
        if os.geteuid() == 0:
            # As root the dag-processor runs Dag files as nobody: the 0600 files are closed.
            self.assertEqual(results["database"], "PermissionError", peek)
            self.assertEqual(results["token"], "PermissionError", peek)
        self.assertEqual(self.import_errors().get("peek.py"), None)


# A JWT-shaped string whose header, '{ "alg": "HS256" }', does not start "eyJ", and a
# password-looking line: what a Dag file might print on stderr before failing.
LEAKED_JWT = "eyAiYWxnIjogIkhTMjU2IiB9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLWJ5dGVz"
LEAKY = """#!/bin/sh
echo "connecting with Bearer %s" >&2
exit 1
""" % LEAKED_JWT


class DagProcessorOnceTest(AirlockTestCase):
    """`airlock dag-processor --once` against a real api-server: its summary of the Dag
    files' problems on stderr goes through the secrets masker like every log line."""

    def setUp(self):
        super().setUp()
        self.home = self.path("home")
        os.makedirs(self.home)
        os.chmod(self.dir, 0o755)
        self.dags = self.path("dags")
        os.makedirs(self.dags)
        os.chmod(self.dags, 0o755)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
               "AIRLOCK_HOME": self.home, "AIRLOCK__API_AUTH__JWT_SECRET": SECRET}
        self.server = ApiServer(env)
        self.addCleanup(self.server.kill)
        secret_file = self.path("secret")
        with open(secret_file, "w") as f:
            f.write(SECRET)
        minted = subprocess.run(
            [BIN, "token", "mint", "--secret-file", secret_file, "--alg", "HS512",
             "--aud", "urn:airflow.apache.org:task", "--sub", "dag-processor",
             "--scope", "dag_processor", "--claim", 'bundles=["dags-folder"]', "--ttl", "600"],
            env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(minted.returncode, 0, minted.stderr)
        self.processor_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__CORE__DAGS_FOLDER": self.dags,
            "AIRLOCK__CORE__EXECUTION_API_SERVER_URL": self.server.base + "/execution/",
            "AIRLOCK__DAG_PROCESSOR__API_TOKEN": minted.stdout.strip(),
        }

    def test_once_masks_the_problems_it_prints(self):
        path = os.path.join(self.dags, "leaky.sh")
        with open(path, "w") as f:
            f.write(LEAKY)
        os.chmod(path, 0o755)
        result = subprocess.run([BIN, "dag-processor", "--once"], env=self.processor_env,
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
        self.assertIn("leaky.sh: exited with code 1", result.stderr)
        self.assertIn("connecting with Bearer ***", result.stderr)
        self.assertNotIn(LEAKED_JWT, result.stderr)
        self.assertNotIn(LEAKED_JWT.split(".")[0], result.stderr)
        self.assertNotIn(self.processor_env["AIRLOCK__DAG_PROCESSOR__API_TOKEN"],
                         result.stderr + result.stdout)


if __name__ == "__main__":
    unittest.main()
