"""The supervisor's own executables, airlock-supervisor and airlock-supervisor-tls
(src/bin/supervisor_main.cc): what they link, how they start as a standby, the hop to the
TLS build for an https Execution API, and that `airlock supervise` runs them."""

import os
import subprocess
import time
import unittest

from airlock_testlib import BIN, EXIT_FAILURE, EXIT_OK, AirlockTestCase

SUPERVISOR = os.path.join(os.path.dirname(BIN), "airlock-supervisor")
SUPERVISOR_TLS = os.path.join(os.path.dirname(BIN), "airlock-supervisor-tls")

# The only shared libraries they may need: libc (and the libm/loader it brings), and for
# the TLS build OpenSSL, kept shared for its security updates. No database client, no
# yaml-cpp, no spdlog, no libstdc++ (linked in), no libsodium.
LIBC = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"}
OPENSSL = {"libssl.so.3", "libcrypto.so.3"}


def needed(binary):
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                         check=True).stdout
    return {line.split("[")[1].split("]")[0] for line in out.splitlines() if "(NEEDED)" in line}


def sanitizer_runtimes(libs):
    """The sanitizer build's runtimes (.ci/run's second phase), which bring libstdc++ and
    libgcc_s with them."""
    runtimes = {n for n in libs if n.startswith(("libasan", "libubsan"))}
    return runtimes | {"libstdc++.so.6", "libgcc_s.so.1"} if runtimes else set()


class SupervisorBinaryTest(AirlockTestCase):
    def env(self, **extra):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AIRLOCK_HOME": self.dir}
        env.update(extra)
        return env

    def supervisor(self, *args, stdin=""):
        return subprocess.run([SUPERVISOR, *args], input=stdin, capture_output=True, text=True,
                              env=self.env(), timeout=60)

    def test_the_plain_build_needs_only_libc_and_the_tls_build_adds_openssl(self):
        plain = needed(SUPERVISOR)
        self.assertIn("libc.so.6", plain)
        self.assertLessEqual(plain, LIBC | sanitizer_runtimes(plain))
        tls = needed(SUPERVISOR_TLS)
        self.assertLessEqual(OPENSSL, tls)
        self.assertLessEqual(tls, LIBC | OPENSSL | sanitizer_runtimes(tls))
        # And the code of the store is in neither (the api-server's and scheduler's).
        for binary in (SUPERVISOR, SUPERVISOR_TLS):
            symbols = subprocess.run(["nm", "-C", binary], capture_output=True,
                                     text=True).stdout
            for name in ("airlock::store::", "airlock::api::", "sqlite3_", "PQconnectdb"):
                self.assertNotIn(name, symbols, binary)

    def test_an_https_execution_api_makes_it_exec_the_tls_build_before_reading_stdin(self):
        for url, expected in (("https://127.0.0.1:9/execution/", SUPERVISOR_TLS),
                              ("http://127.0.0.1:9/execution/", SUPERVISOR)):
            proc = subprocess.Popen(
                [SUPERVISOR, "--standby"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
                env=self.env(AIRLOCK__CORE__EXECUTION_API_SERVER_URL=url))
            # /proc/<pid>/cmdline stays readable for a non-dumpable process.
            deadline = time.monotonic() + 30
            argv0 = ""
            while time.monotonic() < deadline:
                with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode()
                if argv0 == expected:
                    break
                time.sleep(0.02)
            if expected == SUPERVISOR:
                time.sleep(0.3)  # time to exec, had it been going to
                with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode()
            self.assertEqual(argv0, expected, url)
            out, err = proc.communicate(input="", timeout=30)  # released, no workload
            self.assertEqual(proc.returncode, EXIT_OK, err)
            self.assertEqual(err, "")

    def test_standby_released_without_a_workload_exits_zero_silently(self):
        result = self.supervisor("--standby", stdin="")
        self.assertEqual(result.returncode, EXIT_OK, result.stderr)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr, "")

    def test_without_standby_an_empty_stdin_is_an_error(self):
        result = self.supervisor(stdin="")
        self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
        self.assertTrue(result.stderr.startswith("airlock-supervisor: "), result.stderr)

    def test_a_standby_given_a_bad_workload_fails_clearly(self):
        result = self.supervisor("--standby", stdin="{not json")
        self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
        self.assertIn("airlock-supervisor: ", result.stderr)

    def test_help_and_airlock_supervise_point_to_each_other(self):
        result = self.supervisor("--help")
        self.assertEqual(result.returncode, EXIT_OK)
        self.assertIn("--standby", result.stdout)
        result = subprocess.run([BIN, "supervise", "--help"], capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(result.returncode, EXIT_OK)
        self.assertIn("airlock-supervisor", result.stdout)

    def test_airlock_supervise_execs_the_supervisor(self):
        # The same error as airlock-supervisor's own proves the exec: `airlock` has no
        # supervisor code of its own.
        result = subprocess.run([BIN, "supervise"], input="", capture_output=True, text=True,
                                env=self.env(), timeout=60)
        self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
        self.assertTrue(result.stderr.startswith("airlock-supervisor: "), result.stderr)


if __name__ == "__main__":
    unittest.main()
