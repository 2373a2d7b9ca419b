"""The integration tests' own helpers (airlock_testlib)."""

import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def alive(pid):
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class StartTest(unittest.TestCase):
    def sleep_left_by_a_killed_test(self, start):
        """Runs a stand-in for a test, which starts `sleep 120` with the Python expression
        `start` (airlock_testlib imported as t), prints its pid and waits; kills it as
        ctest's timeout or a hand would kill a test; returns the sleep's pid."""
        test = subprocess.Popen(
            [sys.executable, "-c",
             "import subprocess, sys, airlock_testlib as t\n"
             f"print({start}.pid, flush=True)\n"
             "sys.stdin.read()\n"],
            cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: test.poll() is None and test.kill())
        pid = int(test.stdout.readline())
        self.addCleanup(lambda: alive(pid) and os.kill(pid, 9))
        self.assertTrue(alive(pid))
        test.kill()
        test.wait()
        return pid

    def test_a_started_process_is_stopped_when_the_test_process_dies(self):
        pid = self.sleep_left_by_a_killed_test("t.start(['sleep', '120'])")
        deadline = time.time() + 10
        while alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(alive(pid), "the process outlived the test that started it")

    def test_a_process_started_without_it_outlives_the_test_process(self):
        # The control: the same without start() leaves the sleep running.
        pid = self.sleep_left_by_a_killed_test("subprocess.Popen(['sleep', '120'])")
        time.sleep(0.5)
        self.assertTrue(alive(pid))


if __name__ == "__main__":
    unittest.main()
