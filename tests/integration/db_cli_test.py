"""End-to-end tests of `airlock db migrate|version`, and of commands that only use the
database: none of them but `db migrate` creates a missing SQLite file."""

import os
import stat
import subprocess
import unittest

from airlock_testlib import BIN, EXIT_FAILURE, EXIT_OK, AirlockTestCase


class DbCliTest(AirlockTestCase):
    def airlock(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK__")}
        env["AIRLOCK_HOME"] = self.dir
        return subprocess.run([BIN, *args], env=env, capture_output=True, text=True,
                              timeout=60)

    def assertRefusedAndNothingCreated(self, result):
        self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
        self.assertIn("no SQLite database at " + self.path("airlock.db"), result.stderr)
        self.assertIn("`airlock db migrate` creates it", result.stderr)
        self.assertEqual(os.listdir(self.dir), [])

    def test_version_of_a_missing_database_creates_nothing(self):
        self.assertRefusedAndNothingCreated(self.airlock("db", "version"))

    def test_users_list_of_a_missing_database_creates_nothing(self):
        self.assertRefusedAndNothingCreated(self.airlock("users", "list"))

    def test_migrate_creates_the_database_and_version_reads_it(self):
        migrated = self.airlock("db", "migrate")
        self.assertEqual(migrated.returncode, EXIT_OK, migrated.stderr)
        self.assertIn("from schema version 0 to", migrated.stdout)
        for name in ("airlock.db", "airlock.db-audit"):
            self.assertEqual(stat.S_IMODE(os.stat(self.path(name)).st_mode), 0o600, name)
        version = self.airlock("db", "version")
        self.assertEqual(version.returncode, EXIT_OK, version.stderr)
        lines = version.stdout.splitlines()
        self.assertEqual(len(lines), 2, version.stdout)
        database, binary = (line.rsplit(" ", 1)[1] for line in lines)
        self.assertEqual(database, binary)
        self.assertEqual(version.stderr, "")


if __name__ == "__main__":
    unittest.main()
