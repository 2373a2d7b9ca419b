"""End-to-end scheduler tests against `airlock standalone` (issue 6's list, beyond
standalone_test.py): execution_timeout kills a task; a supervisor killed with SIGKILL stops
heartbeating and the scheduler's heartbeat timeout fails its task instance, which is then
retried; two schedulers on one PostgreSQL database hand every task instance over exactly
once; `airlock bench tasks` runs tasks and reports its numbers.

The PostgreSQL test needs AIRLOCK_TEST_POSTGRES_URL (scripts/with-postgres.sh sets it) and
is skipped, loudly, without it unless AIRLOCK_REQUIRE_POSTGRES=1, which makes it fail. It
creates a database of its own on that server (tests run in parallel on the shared one).
"""

import json
import os
import re
import secrets
import signal
import subprocess
import time
import unittest
import urllib.parse

from airlock_testlib import BIN, start
from standalone_test import StandaloneHarness

POSTGRES_URL = os.environ.get("AIRLOCK_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("AIRLOCK_REQUIRE_POSTGRES") == "1"

# Short enough for a test, longer than the supervisor's 5 s heartbeat interval.
HEARTBEAT_TIMEOUT = 8

TIMEOUT_DAG = """
dag_id: e2e_timeout
tasks:
  - task_id: sleeper
    execution_timeout: 2s
    command: [sleep, "60"]
  - task_id: after
    upstream: [sleeper]
    command: ["true"]
"""

ZOMBIE_DAG = """
dag_id: e2e_zombie
tasks:
  - task_id: victim
    retries: 1
    retry_delay: 1s
    command:
      - sh
      - -c
      - |
        tries=$(airlock task variable get e2e_zombie_tries 2>/dev/null || echo 0)
        airlock task variable set e2e_zombie_tries $((tries + 1))
        echo "try counted"
        [ "$tries" -gt 0 ] || sleep 120
"""

WIDE_TASKS = 40


def wide_dag(dag_id):
    tasks = "".join(f"  - task_id: t{i}\n    command: [\"true\"]\n" for i in range(WIDE_TASKS))
    return f"dag_id: {dag_id}\ntasks:\n{tasks}"


def read_text(path):
    with open(path) as f:
        return f.read()


def children(pid, pattern):
    """Pids of `pid`'s children whose command line matches `pattern`."""
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", pattern],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class SchedulerTimeoutsTest(StandaloneHarness):
    def extra_env(self):
        return {"AIRLOCK__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT)}

    def add_dag(self, name, text):
        with open(os.path.join(self.home, "dags", name), "w") as f:
            f.write(text)

    def task_log(self, dag_id, run_id, task_id, try_number):
        path = os.path.join(self.home, "logs", f"dag_id={dag_id}", f"run_id={run_id}",
                            f"task_id={task_id}", f"attempt={try_number}.log")
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_execution_timeout_kills_the_task(self):
        self.add_dag("e2e_timeout.yaml", TIMEOUT_DAG)
        self.trigger("e2e_timeout", "e2e_1")
        started = time.time()
        self.assertEqual(self.wait_run("e2e_timeout", "e2e_1", timeout=60), "failed")
        # Killed after about 2 s, long before `sleep 60` would have ended.
        self.assertLess(time.time() - started, 45)
        states = self.task_states("e2e_timeout", "e2e_1")
        self.assertEqual(states["sleeper"]["state"], "failed")
        self.assertEqual(states["sleeper"]["try_number"], 1)
        self.assertEqual(states["after"]["state"], "upstream_failed")
        log = self.task_log("e2e_timeout", "e2e_1", "sleeper", 1)
        self.assertIn("execution_timeout of 2 s exceeded", log)
        self.assertIn("reported state failed", log)

    def test_killed_supervisor_is_failed_by_heartbeat_timeout_and_retried(self):
        self.add_dag("e2e_zombie.yaml", ZOMBIE_DAG)
        self.trigger("e2e_zombie", "e2e_1")
        scheduler = children(self.proc.pid, "scheduler --config")
        self.assertEqual(len(scheduler), 1, scheduler)
        deadline = time.time() + 60
        while True:
            victim = self.task_states("e2e_zombie", "e2e_1").get("victim", {})
            # The supervisor running the task has a child (the task); a standby has none.
            supervisors = [p for p in children(scheduler[0], "airlock-supervisor")
                           if children(p, ".")]
            if victim.get("state") == "running" and supervisors:
                break
            self.assertLess(time.time(), deadline, f"{victim}\n" + self.output())
            time.sleep(0.1)
        self.assertEqual(len(supervisors), 1, supervisors)
        # Wait until the task has started (it counts its tries first), then kill its
        # supervisor: the task dies with it (PR_SET_PDEATHSIG), nobody reports a state.
        while "try counted" not in self.task_log("e2e_zombie", "e2e_1", "victim", 1):
            self.assertLess(time.time(), deadline, self.output())
            time.sleep(0.1)
        killed_at = time.time()
        os.kill(supervisors[0], signal.SIGKILL)

        # The first try stays running until its heartbeat is HEARTBEAT_TIMEOUT s old, then
        # the scheduler fails it (up_for_retry) and runs try 2, which succeeds.
        while True:
            victim = self.task_states("e2e_zombie", "e2e_1")["victim"]
            if victim["try_number"] == 2:
                break
            self.assertIn(victim["state"], ("running", "up_for_retry", "scheduled"), victim)
            self.assertLess(time.time(), killed_at + 60, f"{victim}\n" + self.output())
            time.sleep(0.2)
        self.assertGreaterEqual(time.time() - killed_at, HEARTBEAT_TIMEOUT - 5 - 1)
        self.assertEqual(self.wait_run("e2e_zombie", "e2e_1", timeout=60), "success")
        victim = self.task_states("e2e_zombie", "e2e_1")["victim"]
        self.assertEqual((victim["state"], victim["try_number"]), ("success", 2))
        first = self.task_log("e2e_zombie", "e2e_1", "victim", 1)
        self.assertNotIn("reported state", first)  # its supervisor died before reporting


class BenchTasksTest(StandaloneHarness):
    """`airlock bench tasks` runs its own scheduler: standalone only writes the
    configuration, then a bare api-server serves the supervisors."""

    def test_bench_tasks_reports_latencies_and_rss(self):
        self.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK__")}
        env["AIRLOCK_HOME"] = self.home
        log = open(self.path("api-server.log"), "w+")
        self.addCleanup(log.close)
        api = start(
            [BIN, "api-server", "--config",
             os.path.join(self.home, "standalone", "api-server.cfg")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def stop_api():
            api.send_signal(signal.SIGTERM)
            api.wait(30)

        self.addCleanup(stop_api)
        deadline = time.time() + 30
        while "listening on" not in read_text(log.name):
            self.assertIsNone(api.poll(), read_text(log.name))
            self.assertLess(time.time(), deadline)
            time.sleep(0.1)
        result = subprocess.run(
            [BIN, "bench", "tasks", "--count", "6", "--parallelism", "3", "--config",
             os.path.join(self.home, "standalone", "scheduler.cfg")],
            capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        report = json.loads(result.stdout)
        self.assertEqual(report["states"], {"success": 6})
        self.assertEqual((report["count"], report["parallelism"]), (6, 3))
        self.assertGreater(report["tasks_per_s"], 0)
        for name in ("queued_to_exec_ms", "exec_to_success_ms"):
            p = report[name]
            self.assertTrue(0 <= p["p50"] <= p["p90"] <= p["p99"] <= p["max"], report)
        self.assertGreater(report["supervisor_rss_kb"]["median"], 0)
        self.assertGreater(report["supervisor_rss_anon_kb"]["median"], 0)


@unittest.skipUnless(POSTGRES_URL or REQUIRE_POSTGRES,
                     "AIRLOCK_TEST_POSTGRES_URL not set (run under scripts/with-postgres.sh)")
class TwoSchedulersPostgresTest(StandaloneHarness):
    def extra_env(self):
        return {"AIRLOCK__DATABASE__SQL_ALCHEMY_CONN": self.database_url}

    def psql(self, sql):
        subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql, POSTGRES_URL],
                       check=True, capture_output=True, text=True)

    def setUp(self):
        self.assertTrue(POSTGRES_URL, "AIRLOCK_REQUIRE_POSTGRES=1 but no PostgreSQL URL")
        # A database of its own: other tests share airlock_test, and a scheduler takes every
        # run it finds.
        name = "airlock_it_" + secrets.token_hex(6)
        self.psql(f"CREATE DATABASE {name}")
        url = urllib.parse.urlsplit(POSTGRES_URL)
        self.database_url = urllib.parse.urlunsplit(url._replace(path="/" + name))
        # Runs after the components are stopped (cleanups run after tearDown).
        self.addCleanup(self.psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        super().setUp()
        self.second = None

    def tearDown(self):
        if self.second and self.second.poll() is None:
            self.second.send_signal(signal.SIGTERM)
            try:
                self.second.wait(30)
            except subprocess.TimeoutExpired:
                self.second.kill()
                self.second.wait()
        super().tearDown()

    def test_two_schedulers_hand_each_task_instance_over_once(self):
        dag_id = "e2e_wide_" + secrets.token_hex(4)
        with open(os.path.join(self.home, "dags", dag_id + ".yaml"), "w") as f:
            f.write(wide_dag(dag_id))
        # The second scheduler: the same configuration standalone wrote for its own.
        second_log = open(self.path("second-scheduler.log"), "w+")
        self.addCleanup(second_log.close)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK__")}
        env["AIRLOCK__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = "0.2"
        self.second = start(
            [BIN, "scheduler", "--config",
             os.path.join(self.home, "standalone", "scheduler.cfg")],
            stdout=second_log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 30
        while "scheduler started" not in read_text(second_log.name):
            self.assertIsNone(self.second.poll(), read_text(second_log.name))
            self.assertLess(time.time(), deadline)
            time.sleep(0.1)

        self.trigger(dag_id, "e2e_1")
        self.assertEqual(self.wait_run(dag_id, "e2e_1", timeout=120), "success")
        states = self.task_states(dag_id, "e2e_1")
        self.assertEqual(len(states), WIDE_TASKS)
        for task_id, ti in states.items():
            self.assertEqual((ti["state"], ti["try_number"]), ("success", 1), ti)
            log_path = os.path.join(self.home, "logs", f"dag_id={dag_id}", "run_id=e2e_1",
                                    f"task_id={task_id}", "attempt=1.log")
            with open(log_path) as f:
                self.assertEqual(f.read().count("started task process"), 1, task_id)

        # Each scheduler logs how many task instances it handed to its executor per pass;
        # this database holds only this Dag, so together they must have queued each once.
        def queued(text):
            return sum(int(n) for n in re.findall(r"(\d+) task instances queued", text))

        first_count = queued(self.output())
        second_count = queued(read_text(second_log.name))
        self.assertEqual(first_count + second_count, WIDE_TASKS,
                         f"standalone's scheduler {first_count}, second {second_count}")
        print(f"\nqueued by standalone's scheduler: {first_count}, by the second: "
              f"{second_count}", flush=True)


if __name__ == "__main__":
    unittest.main()
