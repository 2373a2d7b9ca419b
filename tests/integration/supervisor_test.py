"""End-to-end tests of `airlock supervise` and `airlock task`: a real api-server on a free
loopback port, task instances queued in its database by `airlock bench task-fixture` (as a
scheduler would: a serialized Dag, a Dag run, a queued task instance, a workload token),
and the real supervisor started with the workload on stdin and a scrubbed environment.

When the tests run as root, tasks run as `nobody` ([core] default_impersonation unset), so
every task here is an inline `sh -c` script that needs no file of the test's.
"""

import base64
import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from api_server_test import SECRET, ApiServer

BIN = os.environ.get("AIRLOCK_BIN", "")
FERNET_KEY = base64.urlsafe_b64encode(b"f" * 32).decode()


class SupervisorTestBase(unittest.TestCase):
    def setUp(self):
        self.assertTrue(BIN, "AIRLOCK_BIN is not set")
        self.tmp = tempfile.TemporaryDirectory()
        self.home = self.tmp.name
        os.chmod(self.home, 0o755)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__API_AUTH__JWT_SECRET": SECRET,
            "AIRLOCK__CORE__FERNET_KEY": FERNET_KEY,
        }
        self.server = ApiServer(self.env)

    def tearDown(self):
        self.server.kill()
        self.tmp.cleanup()

    def fixture(self, task, variables=(), connections=(), extras=()):
        """(fixture info dict, workload path) for one queued task instance."""
        out = os.path.join(self.home, "workload-%d.json" % time.monotonic_ns())
        args = [BIN, "bench", "task-fixture", "--task", json.dumps(task), "--workload-out", out]
        for v in variables:
            args += ["--variable", v]
        for c in connections:
            args += ["--connection", c]
        for e in extras:
            args += ["--connection-extra", e]
        result = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        return json.loads(result.stdout), out

    def supervisor_env(self, **extra):
        """What the local executor gives a supervisor: no database URL, no key."""
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": self.home,
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__CORE__EXECUTION_API_SERVER_URL": self.server.base + "/execution/",
        }
        env.update(extra)
        return env

    def start_supervise(self, workload, **extra_env):
        with open(workload, "rb") as f:
            return subprocess.Popen([BIN, "supervise"], stdin=f, env=self.supervisor_env(**extra_env),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def supervise(self, workload, timeout=60, **extra_env):
        proc = self.start_supervise(workload, **extra_env)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, err

    def db(self):
        return sqlite3.connect(os.path.join(self.home, "airlock.db"), timeout=30)

    def state(self, ti_id):
        with self.db() as db:
            return db.execute("SELECT state FROM task_instance WHERE id = ?", (ti_id,)).fetchone()[0]

    def task_log(self, info, attempt=1, missing_ok=False):
        """The task's log; with missing_ok, "" while the supervisor has not created it yet
        (it opens the log after PATCH /run has made the task instance running)."""
        path = os.path.join(self.home, "logs", "dag_id=" + info["dag_id"], "run_id=" + info["run_id"],
                            "task_id=" + info["task_id"], "attempt=%d.log" % attempt)
        if missing_ok and not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def clear_while_running(self, info, workload, started):
        """Supervises the workload and clears its task instance once `started()` holds, as
        clearing does: the row leaves "running" and the next heartbeat gets a 409. The
        supervisor's (exit code, stderr)."""
        proc = self.start_supervise(workload)
        try:
            self.wait_for(started, what="the task to start")
            with self.db() as db:
                db.execute("UPDATE task_instance SET state = 'scheduled' WHERE id = ?",
                           (info["ti_id"],))
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        return proc.returncode, err

    def wait_for(self, predicate, timeout=30, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)


class SupervisorTest(SupervisorTestBase):
    def test_task_reads_variables_connections_and_xcoms_and_secrets_are_masked(self):
        script = "\n".join([
            'echo "var=$(airlock task variable get plain_var)"',
            'airlock task connection get warehouse > /dev/null',
            'echo "password is conn-password-4711"',
            'echo "key is $(airlock task variable get slack_api_key)"',
            "airlock task xcom push result '{\"rows\": 42}'",
            "airlock task xcom push twice '{\"a\": 1, \"a\": 2}' || echo \"duplicate refused: $?\"",
            'echo "pulled=$(airlock task xcom pull result)"',
            "airlock task variable set written from-the-task",
            'echo "written=$(airlock task variable get written)"',
            'airlock task variable get no_such_variable || echo "missing variable refused"',
            'airlock task xcom pull --task-id other_task nothing || echo "missing xcom refused"',
            'echo "env: $(env | cut -d= -f1 | sort | tr "\\n" " ")"',
            'echo "on stderr" >&2',
        ])
        info, workload = self.fixture(
            {"task_id": "t", "command": ["sh", "-c", script], "env": {"GREETING": "hello"}},
            variables=["plain_var=value-one", "slack_api_key=xoxb-very-secret-key"],
            connections=["warehouse=conn-password-4711"])
        with open(workload) as f:
            token = json.load(f)["token"]
        code, err = self.supervise(workload)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.state(info["ti_id"]), "success")
        log = self.task_log(info)
        self.assertIn("var=value-one\n", log)
        self.assertIn("password is ***\n", log)
        self.assertIn("key is ***\n", log)
        self.assertIn('pulled={"rows":42}\n', log)
        self.assertIn("the XCom value has a duplicate member name", log)
        self.assertIn("duplicate refused: 2\n", log)
        self.assertIn("written=from-the-task\n", log)
        self.assertIn("missing variable refused\n", log)
        self.assertIn("missing xcom refused\n", log)
        self.assertIn("variable 'no_such_variable' does not exist", log)
        self.assertIn("on stderr\n", log)
        self.assertIn("env: AIRLOCK_SUPERVISOR_FD GREETING HOME PATH PWD ", log)
        for secret in ("conn-password-4711", "xoxb-very-secret-key", token, SECRET, FERNET_KEY):
            self.assertNotIn(secret, log)
            self.assertNotIn(secret, err)
        # The XCom is in the database under the task's own key.
        with self.db() as db:
            rows = db.execute("SELECT COUNT(*) FROM xcom WHERE dag_id = ? AND key = 'result'",
                              (info["dag_id"],)).fetchone()[0]
        self.assertEqual(rows, 1)
        with self.db() as db:
            rows = db.execute("SELECT COUNT(*) FROM xcom WHERE dag_id = ? AND key = 'twice'",
                              (info["dag_id"],)).fetchone()[0]
        self.assertEqual(rows, 0)

    def test_every_value_of_an_extra_stored_before_the_strict_rules_is_masked(self):
        # Extras the api-server refuses today, stored (as by an earlier version) anyway: a
        # name given twice (a lenient reader keeps one value, the task may use either) and
        # text that is not JSON (it cannot be inspected, so all of it is hidden).
        script = "\n".join([
            "airlock task connection get warehouse",
            "airlock task connection get legacy",
            'echo "keys first-key-1234 second-key-5678 legacy-extra-text-9876"',
        ])
        info, workload = self.fixture(
            {"task_id": "t", "command": ["sh", "-c", script]},
            connections=["warehouse=pw-warehouse-1", "legacy=pw-legacy-1"],
            extras=['warehouse={"api_key":"first-key-1234","region":"eu",'
                    '"api_key":"second-key-5678"}',
                    "legacy=legacy-extra-text-9876"])
        code, err = self.supervise(workload)
        self.assertEqual(code, 0, err)
        log = self.task_log(info)
        self.assertIn("keys *** *** ***\n", log)
        self.assertIn("region", log)  # the extra was printed, masked where it must be
        for secret in ("first-key-1234", "second-key-5678", "legacy-extra-text-9876"):
            self.assertNotIn(secret, log)

    def test_secrets_nested_in_an_extra_are_masked(self):
        # A sensitive name hides everything it holds, at any depth (as the REST API's
        # answer does); what no sensitive name holds is printed as it is.
        secrets = ("nested-token-4321", "list-key-1111", "list-key-2222", "deep-password-7777")
        script = "\n".join([
            "airlock task connection get warehouse",
            'echo "keys %s"' % " ".join(secrets),
        ])
        info, workload = self.fixture(
            {"task_id": "t", "command": ["sh", "-c", script]},
            connections=["warehouse=pw-warehouse-1"],
            extras=['warehouse={"region":"eu-west-9","auth":{"kind":"oauth-flavour",'
                    '"token":"nested-token-4321"},"api_keys":["list-key-1111",'
                    '{"v":"list-key-2222"}],"settings":{"password":{"value":'
                    '"deep-password-7777"}}}'])
        code, err = self.supervise(workload)
        self.assertEqual(code, 0, err)
        log = self.task_log(info)
        self.assertIn("keys *** *** *** ***\n", log)
        for shown in ("eu-west-9", "oauth-flavour"):
            self.assertIn(shown, log)
        for secret in secrets:
            self.assertNotIn(secret, log)

    def test_failing_task_is_reported_failed(self):
        info, workload = self.fixture({"task_id": "t", "command": ["sh", "-c", "echo bye; exit 4"]})
        code, err = self.supervise(workload)
        self.assertEqual(code, 1)
        self.assertEqual(self.state(info["ti_id"]), "failed")
        self.assertIn("task process exited with code 4", self.task_log(info))

    def test_execution_timeout_kills_the_task(self):
        info, workload = self.fixture(
            {"task_id": "t", "command": ["sleep", "120"], "execution_timeout": 1})
        start = time.monotonic()
        code, err = self.supervise(workload)
        self.assertLess(time.monotonic() - start, 60)
        self.assertEqual(code, 1)
        self.assertEqual(self.state(info["ti_id"]), "failed")
        log = self.task_log(info)
        self.assertIn("execution_timeout of 1 s exceeded", log)
        self.assertIn("task process killed by SIGTERM", log)

    def test_cleared_task_instance_is_terminated(self):
        info, workload = self.fixture({"task_id": "t", "command": ["sleep", "120"]})
        code, err = self.clear_while_running(
            info, workload, lambda: self.state(info["ti_id"]) == "running")
        self.assertEqual(code, 1, err)
        log = self.task_log(info)
        self.assertIn("the server no longer runs this task instance", log)
        self.assertIn("task process killed by SIGTERM", log)
        self.assertIn("not reporting a state", log)
        self.assertEqual(self.state(info["ti_id"]), "scheduled")  # not overwritten

    def test_sigterm_to_the_supervisor_fails_the_task(self):
        info, workload = self.fixture({"task_id": "t", "command": ["sleep", "120"]})
        proc = self.start_supervise(workload)
        self.wait_for(lambda: self.state(info["ti_id"]) == "running", what="running")
        self.wait_for(lambda: "started task process" in self.task_log(info, missing_ok=True),
                      what="task start")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1, err)
        self.assertEqual(self.state(info["ti_id"]), "failed")
        self.assertIn("the supervisor received SIGTERM", self.task_log(info))

    def test_a_used_workload_token_is_refused(self):
        info, workload = self.fixture({"task_id": "t", "command": ["true"]})
        self.assertEqual(self.supervise(workload)[0], 0)
        code, err = self.supervise(workload)
        self.assertEqual(code, 1)
        self.assertIn("ExchangeWorkloadToken", err)
        with open(workload) as f:
            self.assertNotIn(json.load(f)["token"], err)

    def write_shared_config(self):
        """$AIRLOCK_HOME/airlock.cfg as an operator using it for the api-server and the
        scheduler writes it: the database URL, the signing secret and strict_secrets. Every
        process of these tests reads it, the supervisor among them (as the local executor
        starts it: AIRLOCK_HOME, no --config). Returns the database URL."""
        db_url = "sqlite:///" + os.path.join(self.home, "airlock.db")
        path = os.path.join(self.home, "airlock.cfg")
        with open(path, "w") as f:
            f.write("[core]\nstrict_secrets = True\n"
                    "[database]\nsql_alchemy_conn = %s\n"
                    "[api_auth]\njwt_secret = %s\n" % (db_url, SECRET))
        os.chmod(path, 0o600)
        return db_url, path

    def test_a_shared_airlock_cfg_gives_the_supervisor_none_of_its_secrets(self):
        db_url, path = self.write_shared_config()
        # The task prints both values. The supervisor masks every sensitive value it holds in
        # the task log; these come out in clear only because it holds neither.
        info, workload = self.fixture({"task_id": "t", "command": [
            "sh", "-c", "echo db=%s; echo key=%s" % (db_url, SECRET)]})
        code, err = self.supervise(workload)
        # strict_secrets in the shared file does not stop it: it was not given them.
        self.assertEqual(code, 0, err)
        self.assertEqual(self.state(info["ti_id"]), "success")
        log = self.task_log(info)
        self.assertIn("db=%s\n" % db_url, log)
        self.assertIn("key=%s\n" % SECRET, log)
        # And it names them, with their line, for the operator to clean up.
        self.assertIn("[database] sql_alchemy_conn is set by %s:4 but worker does not need it"
                      % path, err)
        self.assertIn("[api_auth] jwt_secret is set by %s:6 but worker does not need it" % path,
                      err)
        self.assertNotIn(SECRET, err)
        # Given to it by its own environment, a secret still makes it refuse.
        info, workload = self.fixture({"task_id": "t2", "command": ["true"]})
        code, err = self.supervise(workload, AIRLOCK__API_AUTH__JWT_SECRET=SECRET)
        self.assertEqual(code, 1, err)
        self.assertIn("worker refuses to start because [core] strict_secrets is True", err)
        self.assertIn("[api_auth] jwt_secret is set by env AIRLOCK__API_AUTH__JWT_SECRET", err)
        self.assertNotIn("sql_alchemy_conn", err)
        self.assertNotIn(SECRET, err)
        self.assertEqual(self.state(info["ti_id"]), "queued")

    def test_task_command_outside_a_supervisor(self):
        result = subprocess.run([BIN, "task", "variable", "get", "x"], env={"PATH": "/usr/bin:/bin"},
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1)
        self.assertIn("not running under an airlock supervisor", result.stderr)
        result = subprocess.run([BIN, "task", "variable", "get", "x"],
                                env={"PATH": "/usr/bin:/bin", "AIRLOCK_SUPERVISOR_FD": "0"},
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 1)
        self.assertIn("is not an open socket", result.stderr)

    def bench_supervisor(self, count, sleep):
        """The report of `airlock bench supervisor`: `count` tasks sleeping `sleep` s each,
        run through the local executor against this test's api-server."""
        result = subprocess.run(
            [BIN, "bench", "supervisor", "--count", str(count), "--sleep", sleep,
             "--execution-api-url", self.server.base + "/execution/"],
            env=self.env, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def test_local_executor_runs_tasks_through_supervisors(self):
        report = self.bench_supervisor(3, "0.5")
        self.assertEqual(report["states"], {"success": 3})
        self.assertGreater(report["supervisor_rss_kb"]["max"], 0)

    def test_local_executor_runs_tasks_with_a_shared_airlock_cfg_holding_secrets(self):
        self.write_shared_config()
        report = self.bench_supervisor(2, "0.1")
        self.assertEqual(report["states"], {"success": 2})


@unittest.skipUnless(os.geteuid() == 0, "needs root: user switching")
class RootSupervisorTest(SupervisorTestBase):
    def test_tasks_run_as_nobody_by_default(self):
        info, workload = self.fixture({"task_id": "t", "command": ["id", "-un"]})
        self.assertEqual(self.supervise(workload)[0], 0)
        self.assertIn("\nnobody\n", self.task_log(info))

    def test_root_tasks_need_allow_root_tasks(self):
        task = {"task_id": "t", "command": ["id", "-u"], "run_as_user": "root"}
        info, workload = self.fixture(task)
        code, _ = self.supervise(workload)
        self.assertEqual(code, 1)
        self.assertEqual(self.state(info["ti_id"]), "failed")
        self.assertIn("refusing to run a task as root", self.task_log(info))
        self.assertIn("allow_root_tasks", self.task_log(info))

        info, workload = self.fixture(task)
        code, err = self.supervise(workload, AIRLOCK__CORE__ALLOW_ROOT_TASKS="True")
        self.assertEqual(code, 0, err)
        self.assertIn("\n0\n", self.task_log(info))


SUDO_SUPERVISOR_USER = "airlock-sudo-sup"
SUDOERS_FILE = "/etc/sudoers.d/airlock-test-sudo-supervisor"


@unittest.skipUnless(os.geteuid() == 0, "needs root: creates a Unix user and a sudoers rule")
class SudoSupervisorTest(SupervisorTestBase):
    """A supervisor that is not root runs a task of another user through sudo (SPEC §5),
    with the sudoers rule docs/security/deployment-hardening.md gives: the launcher and kill,
    as `nobody`, and nothing else. The supervisor runs as a user of its own, created here."""

    @classmethod
    def setUpClass(cls):
        # Not a skip: scripts/install-deps.sh installs sudo, so its absence is a broken setup.
        if shutil.which("sudo") is None:
            raise AssertionError("sudo is not installed (scripts/install-deps.sh installs it)")
        cls.created_user = False
        try:
            pwd.getpwnam(SUDO_SUPERVISOR_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", SUDO_SUPERVISOR_USER], check=True)
            cls.created_user = True
        launcher = os.path.join(os.path.realpath(os.path.dirname(BIN)), "airlock-supervisor")
        rule = "%s ALL=(nobody) NOPASSWD: %s --launch, /usr/bin/kill\n" % (
            SUDO_SUPERVISOR_USER, launcher)
        staged = SUDOERS_FILE + ".new"
        with open(staged, "w") as f:
            f.write(rule)
        os.chmod(staged, 0o440)
        subprocess.run(["visudo", "-cqf", staged], check=True)
        os.rename(staged, SUDOERS_FILE)

    @classmethod
    def tearDownClass(cls):
        os.remove(SUDOERS_FILE)
        if not cls.created_user:
            return
        # userdel refuses while a process of the user runs (a supervisor or its sudo still
        # ending): end them, and retry for a while rather than leave the user behind.
        deadline = time.monotonic() + 10
        while True:
            subprocess.run(["pkill", "-KILL", "-u", SUDO_SUPERVISOR_USER], check=False)
            result = subprocess.run(["userdel", SUDO_SUPERVISOR_USER], capture_output=True,
                                    text=True)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError("could not remove the test user %s: %s" %
                                     (SUDO_SUPERVISOR_USER, result.stderr))
            time.sleep(0.2)

    def start_supervise(self, workload, **extra_env):
        user = pwd.getpwnam(SUDO_SUPERVISOR_USER)
        logs = os.path.join(self.home, "logs")
        os.makedirs(logs, exist_ok=True)
        os.chown(logs, user.pw_uid, user.pw_gid)
        os.chown(workload, user.pw_uid, user.pw_gid)
        with open(workload, "rb") as f:
            return subprocess.Popen([BIN, "supervise"], stdin=f, env=self.supervisor_env(**extra_env),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    user=user.pw_uid, group=user.pw_gid, extra_groups=[])

    def test_the_task_runs_as_its_user_and_reaches_its_supervisor(self):
        script = "\n".join([
            'echo "user=$(id -un)"',
            'echo "var=$(airlock task variable get plain_var)"',
            'echo "env: $(env | cut -d= -f1 | sort | tr "\\n" " ")"',
            'echo "stdin=$(readlink /proc/self/fd/0)"',
            'grep NoNewPrivs /proc/self/status',
        ])
        info, workload = self.fixture({"task_id": "t", "command": ["sh", "-c", script],
                                       "run_as_user": "nobody", "env": {"GREETING": "hello"}},
                                      variables=["plain_var=value-one"])
        code, err = self.supervise(workload)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.state(info["ti_id"]), "success")
        log = self.task_log(info)
        self.assertIn("as user nobody", log)
        self.assertIn("user=nobody\n", log)
        self.assertIn("var=value-one\n", log)
        # The task's scrubbed environment, not what sudo would have set (SUDO_USER, ...).
        self.assertIn("env: AIRLOCK_SUPERVISOR_FD GREETING HOME PATH PWD \n", log)
        self.assertIn("stdin=/dev/null\n", log)
        self.assertRegex(log, r"NoNewPrivs:\s*1\n")

    def test_a_task_that_ignores_sigterm_is_killed_through_sudo(self):
        # Every process of the task ignores SIGTERM; only the SIGKILL sent as its user ends
        # them, the child too (sleep 307 identifies it).
        script = 'trap "" TERM; sleep 307 & echo started; wait'
        info, workload = self.fixture({"task_id": "t", "command": ["sh", "-c", script],
                                       "run_as_user": "nobody"})
        code, err = self.clear_while_running(
            info, workload, lambda: "started" in self.task_log(info, missing_ok=True))
        self.assertEqual(code, 1, err)
        log = self.task_log(info)
        self.assertIn("the server no longer runs this task instance", log)
        self.assertIn("task process killed by SIGKILL", log)
        left = subprocess.run(["pgrep", "-u", "nobody", "-f", "sleep 307"], capture_output=True,
                              text=True)
        self.assertEqual(left.stdout, "", "the task's child outlived it")

    def test_what_the_task_leaves_running_goes_with_it(self):
        # The task ends at once and leaves a child in its process group; the supervisor
        # kills that child as the task's user before it reaps sudo.
        script = "sleep 311 & echo left a child"
        info, workload = self.fixture({"task_id": "t", "command": ["sh", "-c", script],
                                       "run_as_user": "nobody"})
        code, err = self.supervise(workload)
        self.assertEqual(code, 0, err)
        self.assertIn("left a child", self.task_log(info))
        left = subprocess.run(["pgrep", "-u", "nobody", "-f", "sleep 311"], capture_output=True,
                              text=True)
        self.assertEqual(left.stdout, "", "the task's child outlived it")

    def test_the_task_dies_with_its_supervisor(self):
        # A root supervisor's task gets the kernel's parent-death signal; through sudo the
        # launcher, left as the task's parent, ends the task when the supervisor is gone.
        info, workload = self.fixture({"task_id": "t", "command": ["sh", "-c",
                                                                   "echo started; sleep 317"],
                                       "run_as_user": "nobody"})
        proc = self.start_supervise(workload)
        try:
            self.wait_for(lambda: "started" in self.task_log(info, missing_ok=True),
                          what="the task to start")
            proc.kill()
            proc.communicate()
            self.wait_for(lambda: subprocess.run(["pgrep", "-u", "nobody", "-f", "sleep 317"],
                                                 capture_output=True).returncode == 1,
                          timeout=20, what="the task to end with its supervisor")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    def test_a_user_the_sudoers_rule_does_not_name_fails_the_task_with_sudos_message(self):
        info, workload = self.fixture({"task_id": "t", "command": ["id", "-un"],
                                       "run_as_user": "daemon"})
        code, _ = self.supervise(workload)
        self.assertEqual(code, 1)
        self.assertEqual(self.state(info["ti_id"]), "failed")
        log = self.task_log(info)
        self.assertIn("sudo: ", log)
        self.assertNotIn("\ndaemon\n", log)


def self_signed_certificate(directory):
    """(cert path, key path): a certificate for 127.0.0.1, its own trust anchor."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlock test api-server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, "api.crt")
    key_path = os.path.join(directory, "api.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


class TlsSupervisorTest(SupervisorTestBase):
    """An https Execution API: airlock-supervisor (built without TLS) execs
    airlock-supervisor-tls, which verifies the api-server's certificate against
    [core] execution_api_ca_file (a self-signed certificate here)."""

    def setUp(self):
        super().setUp()
        self.server.kill()
        self.cert, key = self_signed_certificate(self.home)
        self.env["AIRLOCK__API__SSL_CERT"] = self.cert
        self.env["AIRLOCK__API__SSL_KEY"] = key
        self.server = ApiServer(self.env)
        self.assertTrue(self.server.base.startswith("https://"), self.server.base)

    def test_task_runs_over_https_with_the_certificate_trusted(self):
        script = 'echo "var=$(airlock task variable get plain_var)"'
        info, workload = self.fixture({"task_id": "t", "command": ["sh", "-c", script]},
                                      variables=["plain_var=over-tls"])
        code, err = self.supervise(workload, AIRLOCK__CORE__EXECUTION_API_CA_FILE=self.cert)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.state(info["ti_id"]), "success")
        self.assertIn("var=over-tls", self.task_log(info))

    def test_an_unreadable_ca_file_fails_the_start_and_names_the_option(self):
        info, workload = self.fixture({"task_id": "t", "command": ["true"]})
        missing = os.path.join(self.home, "no-such-ca.pem")
        code, err = self.supervise(workload, AIRLOCK__CORE__EXECUTION_API_CA_FILE=missing)
        self.assertEqual(code, 1)
        self.assertIn("[core] execution_api_ca_file: cannot read " + missing, err)
        self.assertEqual(self.state(info["ti_id"]), "queued")

    def test_an_untrusted_certificate_is_refused(self):
        info, workload = self.fixture({"task_id": "t", "command": ["true"]})
        code, err = self.supervise(workload)  # the system store does not know the test CA
        self.assertEqual(code, 1)
        self.assertIn("TLS handshake failed", err)
        self.assertEqual(self.state(info["ti_id"]), "queued")  # the token was never exchanged


if __name__ == "__main__":
    unittest.main()
