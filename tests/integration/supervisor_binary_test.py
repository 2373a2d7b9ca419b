"""The supervisor's own executable, airlock-supervisor (src/bin/supervisor_main.cc): what it
links, how it starts as a standby, and that `airlock supervise` runs it."""

import os
import subprocess
import unittest

from airlock_testlib import BIN, EXIT_FAILURE, EXIT_OK, AirlockTestCase

SUPERVISOR = os.path.join(os.path.dirname(BIN), "airlock-supervisor")

# The only shared libraries it may need: libc (and the libm/loader it brings) and OpenSSL,
# kept shared for its security updates. No database client, no yaml-cpp, no spdlog, no
# libstdc++ (linked in), no libsodium.
ALLOWED_NEEDED = {"libc.so.6", "libm.so.6", "libssl.so.3", "libcrypto.so.3",
                  "ld-linux-x86-64.so.2"}


class SupervisorBinaryTest(AirlockTestCase):
    def env(self, **extra):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AIRLOCK_HOME": self.dir}
        env.update(extra)
        return env

    def supervisor(self, *args, stdin=""):
        return subprocess.run([SUPERVISOR, *args], input=stdin, capture_output=True, text=True,
                              env=self.env(), timeout=60)

    def test_needs_only_libc_and_openssl(self):
        out = subprocess.run(["readelf", "-d", SUPERVISOR], capture_output=True, text=True,
                             check=True).stdout
        needed = {line.split("[")[1].split("]")[0] for line in out.splitlines()
                  if "(NEEDED)" in line}
        self.assertTrue(needed, out)
        allowed = set(ALLOWED_NEEDED)
        if any(n.startswith(("libasan", "libubsan")) for n in needed):
            # The sanitizer build (.ci/run's second phase): its runtimes, which bring
            # libstdc++ and libgcc_s with them.
            allowed |= {n for n in needed if n.startswith(("libasan", "libubsan"))}
            allowed |= {"libstdc++.so.6", "libgcc_s.so.1"}
        self.assertLessEqual(needed, allowed, out)
        # And the code of the store is not in it (the api-server's and scheduler's).
        symbols = subprocess.run(["nm", "-C", SUPERVISOR], capture_output=True,
                                 text=True).stdout
        for name in ("airlock::store::", "airlock::api::", "sqlite3_", "PQconnectdb"):
            self.assertNotIn(name, symbols)

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
