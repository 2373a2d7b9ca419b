"""Isolation of a task from everything above it (SPEC §5, issue 6): the whole chain —
api-server, executor (`airlock bench supervisor`, which holds the database URL, the
signing key and the Fernet key, as a scheduler does), supervisor, task — runs as an
unprivileged Unix user that the test creates, and the task probes every airlock ancestor.

Root reads any process's memory whatever its dumpable flag, which is why the chain must
not run as root: these tests need root only to create the user, and are skipped, loudly,
without it.

The probe (a Python script run as the task) proves, for each airlock ancestor, that it
cannot read /proc/<pid>/environ, /proc/<pid>/mem, /proc/<pid>/maps or /proc/<pid>/fd and
cannot ptrace-attach; that its own environment, open fds and command line hold no token,
database URL or key; and, as a control, that the same reads succeed on a dumpable process
of the same user (so the denials come from the supervisor's hardening, not the test set-up).
"""

import base64
import json
import os
import pwd
import secrets
import subprocess
import sys
import tempfile
import unittest

from airlock_testlib import start
from api_server_test import SECRET

BIN = os.environ.get("AIRLOCK_BIN", "")
FERNET_KEY = base64.urlsafe_b64encode(b"i" * 32).decode()

PROBE = r'''
import ctypes, errno, json, os, subprocess, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_ATTACH, PTRACE_DETACH = 16, 17


def outcome(fn):
    try:
        fn()
        return "allowed"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def ptrace(pid):
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
        return "allowed"
    return errno.errorcode.get(ctypes.get_errno(), "?")


def probe(pid):
    return {
        "pid": pid,
        "environ": outcome(lambda: open("/proc/%d/environ" % pid, "rb").read()),
        "mem": outcome(lambda: os.close(os.open("/proc/%d/mem" % pid, os.O_RDONLY))),
        "maps": outcome(lambda: open("/proc/%d/maps" % pid).read()),
        "fd": outcome(lambda: os.listdir("/proc/%d/fd" % pid)),
        "ptrace": ptrace(pid),
    }


def stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.index("(") + 1:data.rindex(")")], int(data[data.rindex(")") + 2:].split()[1])


ancestors = []
pid = os.getppid()
while pid > 1:
    comm, ppid = stat(pid)
    if comm == "airlock" or comm.startswith("airlock-"):  # airlock-supervisor: "airlock-supervi"
        ancestors.append(probe(pid))
    pid = ppid

# The control: a dumpable process of the same user, our own child.
control = subprocess.Popen(["sleep", "30"])
control_result = probe(control.pid)
control.kill()
control.wait()

haystack = [json.dumps(dict(os.environ)), open("/proc/self/cmdline", "rb").read().decode("latin-1")]
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        continue
    fds[fd] = target
    haystack.append(target)
    if target.startswith("/") and os.path.isfile(target):
        try:
            with open(target, "rb") as f:
                haystack.append(f.read(1 << 20).decode("latin-1"))
        except OSError:
            pass

# Python's subprocess closes inherited fds unless told: pass the channel on.
channel = (int(os.environ["AIRLOCK_SUPERVISOR_FD"]),)
variable = subprocess.run(["airlock", "task", "variable", "get", "iso_var"], pass_fds=channel,
                          capture_output=True, text=True).stdout.strip()
connection = json.loads(subprocess.run(["airlock", "task", "connection", "get", "iso_conn"],
                                       pass_fds=channel, capture_output=True, text=True).stdout)
print("variable from the supervisor: " + variable)
print("the connection password is " + connection["password"])
with open(sys.argv[1], "w") as f:
    json.dump({"uid": os.getuid(), "ancestors": ancestors, "control": control_result,
               "haystack": "\n".join(haystack), "fds": fds, "variable": variable}, f)
'''


class IsolationTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(BIN, "AIRLOCK_BIN is not set")
        if os.geteuid() != 0:
            sys.stderr.write("\n*** isolation_test SKIPPED: it needs root to create an "
                             "unprivileged user for the chain; the isolation of tasks is NOT "
                             "tested in this run ***\n")
            self.skipTest("needs root to create a test user")
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        os.chmod(self.tmp.name, 0o755)
        self.user = "airlock-it-" + secrets.token_hex(4)
        self.home = os.path.join(self.tmp.name, "home")
        os.mkdir(self.home, 0o755)
        subprocess.run(["useradd", "--no-create-home", "--home-dir", self.home, "--shell",
                        "/usr/sbin/nologin", "--user-group", self.user], check=True)
        self.addCleanup(subprocess.run, ["userdel", self.user], check=False)
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.chown(self.home, self.uid, self.gid)
        self.probe = os.path.join(self.tmp.name, "probe.py")
        with open(self.probe, "w") as f:
            f.write(PROBE)
        os.chmod(self.probe, 0o644)
        self.database_url = "sqlite:///" + os.path.join(self.home, "airlock.db")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "AIRLOCK_HOME": self.home,
            "AIRLOCK__API_AUTH__JWT_SECRET": SECRET,
            "AIRLOCK__CORE__FERNET_KEY": FERNET_KEY,
            "AIRLOCK__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
        }

    def as_user(self):
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "env": self.env}

    def test_task_cannot_read_or_trace_any_airlock_ancestor(self):
        server = start(
            [BIN, "api-server", "--host", "127.0.0.1", "--port", "0", "--migrate"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **self.as_user())
        self.addCleanup(lambda: (server.kill(), server.communicate()))
        line = server.stdout.readline()
        self.assertIn("listening on", line)
        url = line.strip().rsplit(" ", 1)[1] + "/execution/"

        fixture = subprocess.run(
            [BIN, "bench", "task-fixture", "--task", '{"task_id":"unused","command":["true"]}',
             "--workload-out", os.path.join(self.home, "unused.json"),
             "--variable", "iso_var=visible-value", "--connection", "iso_conn=iso-password-31337"],
            capture_output=True, text=True, timeout=60, **self.as_user())
        self.assertEqual(fixture.returncode, 0, fixture.stderr)

        out = os.path.join(self.home, "probe.json")
        task = {"task_id": "probe", "command": ["python3", self.probe, out]}
        bench = subprocess.run(
            [BIN, "bench", "supervisor", "--count", "1", "--task", json.dumps(task),
             "--execution-api-url", url],
            capture_output=True, text=True, timeout=120, **self.as_user())
        self.assertEqual(bench.returncode, 0, bench.stderr)
        report = json.loads(bench.stdout.strip().splitlines()[-1])
        log_path = os.path.join(self.home, "logs", "dag_id=" + report["dag_id"],
                                "run_id=" + report["run_id"], "task_id=probe", "attempt=1.log")
        with open(log_path) as f:
            log = f.read()
        self.assertEqual(report["states"], {"success": 1}, log)
        with open(out) as f:
            result = json.load(f)

        if os.environ.get("ISOLATION_TEST_VERBOSE"):
            sys.stderr.write(json.dumps({k: result[k] for k in ("ancestors", "control", "fds")},
                                        indent=1) + "\n")
        self.assertEqual(result["uid"], self.uid)
        # The executor (bench, holding the database URL and keys) and the supervisor.
        self.assertGreaterEqual(len(result["ancestors"]), 2, result["ancestors"])
        for ancestor in result["ancestors"]:
            for check in ("environ", "mem", "maps", "fd"):
                self.assertIn(ancestor[check], ("EACCES", "EPERM"), (check, ancestor))
            self.assertEqual(ancestor["ptrace"], "EPERM", ancestor)
        # The control: the same reads work on a dumpable process of the same user.
        for check in ("environ", "mem", "maps", "fd", "ptrace"):
            self.assertEqual(result["control"][check], "allowed", result["control"])

        haystack = result["haystack"]
        for secret in (SECRET, FERNET_KEY, self.database_url, "airlock.db", "eyJ",
                       "SQL_ALCHEMY_CONN", "JWT_SECRET", "FERNET"):
            self.assertNotIn(secret, haystack)
        self.assertEqual(sorted(result["fds"])[:4], ["0", "1", "2", "3"])
        self.assertEqual(result["variable"], "visible-value")

        self.assertIn("variable from the supervisor: visible-value", log)
        self.assertIn("the connection password is ***", log)
        self.assertNotIn("iso-password-31337", log)


if __name__ == "__main__":
    unittest.main()
