"""End-to-end tests of `airlock config list|get|check` and `airlock docs check` (issue 3).

Every run gets a controlled environment: HOME and AIRLOCK_HOME inside the test's
temporary directory and no AIRLOCK__ variable except the ones a test sets.
"""

import os
import shutil
import subprocess
import unittest

from airlock_testlib import BIN, EXIT_FAILURE, AirlockTestCase

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REAL_DOCS = os.path.join(SOURCE_DIR, "docs", "security")

JWT_SECRET = "jwt-secret-" + "x" * 60
DB_PASSWORD = "pa ss/wo@rd-42"
DB_URL = "postgresql://airlock:pa%20ss%2Fwo%40rd-42@db.internal:5432/airlock"
FERNET_KEY = "fernet-key-printed-by-a-command"

ALL_SENSITIVE = {
    "AIRLOCK__CORE__FERNET_KEY": FERNET_KEY,
    "AIRLOCK__DATABASE__SQL_ALCHEMY_CONN": DB_URL,
    "AIRLOCK__API__SSL_KEY": "/etc/airlock/tls.key",
    "AIRLOCK__API__SECRET_KEY": "api-secret-key-value",
    "AIRLOCK__API_AUTH__JWT_SECRET": JWT_SECRET,
    "AIRLOCK__API_AUTH__JWT_PRIVATE_KEY_PATH": "/etc/airlock/signing.pem",
    "AIRLOCK__SECRETS__BACKEND_KWARGS": '{"token": "backend-token-value"}',
}


class ConfigCliTest(AirlockTestCase):
    def run_airlock(self, *args, env=None, cwd=None):
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.dir,
            "AIRLOCK_HOME": self.path("home"),
        }
        base.update(env or {})
        return subprocess.run(
            [BIN, *args], capture_output=True, text=True, timeout=60, env=base, cwd=cwd
        )

    def assertNoSecrets(self, text, secrets):
        for secret in secrets:
            self.assertNotIn(secret, text)

    def test_list_masks_secrets_from_every_source(self):
        os.makedirs(self.path("home"))
        self.write(
            "home/airlock.cfg",
            "[api]\nsecret_key = api-secret-from-the-file\n"
            "[core]\nfernet_key_cmd = printf %s\n" % FERNET_KEY,
        )
        env = {
            "AIRLOCK__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRLOCK__DATABASE__SQL_ALCHEMY_CONN": DB_URL,
            # A non-sensitive option that happens to contain a secret is masked too.
            "AIRLOCK__API_AUTH__JWT_ISSUER": "issuer-" + JWT_SECRET,
        }
        result = self.run_airlock("config", "list", "--show-sources", env=env)
        self.assertSucceeds(result)
        secrets = [JWT_SECRET, DB_URL, DB_PASSWORD, "pa%20ss%2Fwo%40rd-42", FERNET_KEY,
                   "api-secret-from-the-file"]
        self.assertNoSecrets(result.stdout + result.stderr, secrets)
        self.assertIn("jwt_secret = ***\n", result.stdout)
        self.assertIn("sql_alchemy_conn = ***\n", result.stdout)
        self.assertIn("fernet_key = ***\n", result.stdout)
        self.assertIn("# from env AIRLOCK__API_AUTH__JWT_SECRET\n", result.stdout)
        self.assertIn("# from %s:4 (fernet_key_cmd)\n" % self.path("home/airlock.cfg"), result.stdout)
        self.assertIn("jwt_issuer = issuer-***\n", result.stdout)
        self.assertIn("jwt_leeway = 10\n", result.stdout)

        revealed = self.run_airlock("config", "list", "--reveal", env=env)
        self.assertSucceeds(revealed)
        self.assertIn("jwt_secret = %s\n" % JWT_SECRET, revealed.stdout)
        self.assertIn("fernet_key = %s\n" % FERNET_KEY, revealed.stdout)

    def test_list_one_section(self):
        result = self.run_airlock("config", "list", "--section", "execution_api")
        self.assertSucceeds(result)
        self.assertEqual(
            result.stdout,
            "[execution_api]\njwt_expiration_time = 600\n"
            "jwt_audience = urn:airflow.apache.org:task\n",
        )
        self.assertUsageError(self.run_airlock("config", "list", "--section", "api_uath"),
                              "did you mean [api_auth]?")

    def test_get(self):
        env = {"AIRLOCK__API_AUTH__JWT_SECRET": JWT_SECRET, "AIRLOCK__API_AUTH__JWT_LEEWAY": "30"}
        result = self.run_airlock("config", "get", "api_auth", "jwt_secret", env=env)
        self.assertSucceeds(result)
        self.assertEqual(result.stdout, "***\n")
        result = self.run_airlock("config", "get", "api_auth", "jwt_secret", "--reveal", env=env)
        self.assertEqual(result.stdout, JWT_SECRET + "\n")
        result = self.run_airlock("config", "get", "api_auth", "jwt_leeway", env=env)
        self.assertEqual(result.stdout, "30\n")
        self.assertUsageError(self.run_airlock("config", "get", "api_auth", "jwt_secert"),
                              "did you mean [api_auth] jwt_secret?")
        self.assertFailsWithOneLine(self.run_airlock("config", "get", "api_auth", "jwt_secret"),
                                    EXIT_FAILURE, "[api_auth] jwt_secret is not set")

    def test_config_flag_names_the_file(self):
        cfg = self.write("other.cfg", "[api]\nport = 9090\n")
        result = self.run_airlock("config", "get", "api", "port", "--config", cfg)
        self.assertSucceeds(result)
        self.assertEqual(result.stdout, "9090\n")
        self.assertFailsWithOneLine(
            self.run_airlock("config", "get", "api", "port", "--config", self.path("missing.cfg")),
            EXIT_FAILURE, "missing.cfg")

    def test_startup_errors_name_the_option_never_the_value(self):
        env = {"AIRLOCK__API_AUTH__JWT_SECRET_CMD": "sh -c 'echo leaked-by-command; exit 3'"}
        result = self.run_airlock("config", "list", env=env)
        self.assertFailsWithOneLine(result, EXIT_FAILURE,
                                    "[api_auth] jwt_secret: the command from env "
                                    "AIRLOCK__API_AUTH__JWT_SECRET_CMD failed: exited with "
                                    "status 3", secrets=["leaked-by-command"])
        self.assertFailsWithOneLine(self.run_airlock("config", "list",
                                                     env={"AIRLOCK__API__PORT_CMD": "echo 1"}),
                                    EXIT_FAILURE, "[api] port is not sensitive")
        self.assertFailsWithOneLine(self.run_airlock("config", "list",
                                                     env={"AIRLOCK__API__PROT": "1"}),
                                    EXIT_FAILURE, "did you mean AIRLOCK__API__PORT?")
        self.assertFailsWithOneLine(self.run_airlock("config", "list",
                                                     env={"AIRLOCK__API__PORT": "eighty"}),
                                    EXIT_FAILURE,
                                    "[api] port from env AIRLOCK__API__PORT is not a valid "
                                    "integer", secrets=["eighty"])

    def test_check_every_component(self):
        expected_findings = {
            "api-server": 0,
            "scheduler": 2,  # [api] ssl_key and [api] secret_key
            "worker": len(ALL_SENSITIVE),
            "dag-processor": len(ALL_SENSITIVE),
            "triggerer": len(ALL_SENSITIVE),
        }
        for component, count in expected_findings.items():
            with self.subTest(component=component):
                result = self.run_airlock("config", "check", "--component", component,
                                          env=ALL_SENSITIVE)
                lines = result.stdout.splitlines()
                if count == 0:
                    self.assertSucceeds(result)
                    self.assertEqual(len(lines), 1)
                else:
                    self.assertEqual(result.returncode, EXIT_FAILURE, result.stderr)
                    self.assertEqual(len(lines), count, result.stdout)
                    for line in lines:
                        self.assertRegex(line, r"^\[\w+\] \w+ is set by env AIRLOCK__\w+ but %s "
                                               r"does not need it$" % component)
                self.assertNoSecrets(result.stdout + result.stderr, ALL_SENSITIVE.values())

    def test_check_does_not_run_commands_the_component_does_not_need(self):
        marker = self.path("command-ran")
        env = {"AIRLOCK__DATABASE__SQL_ALCHEMY_CONN_CMD": "touch %s" % marker}
        result = self.run_airlock("config", "check", "--component", "worker", env=env)
        self.assertEqual(result.returncode, EXIT_FAILURE)
        self.assertEqual(result.stdout,
                         "[database] sql_alchemy_conn is set by env "
                         "AIRLOCK__DATABASE__SQL_ALCHEMY_CONN_CMD but worker does not need it\n")
        self.assertFalse(os.path.exists(marker))

    def test_check_clean_and_bad_component(self):
        self.assertSucceeds(self.run_airlock("config", "check", "--component", "worker"))
        self.assertUsageError(self.run_airlock("config", "check", "--component", "webserver"))


class DocsCheckCliTest(AirlockTestCase):
    def test_real_docs_pass_from_the_source_directory(self):
        result = subprocess.run([BIN, "docs", "check"], capture_output=True, text=True,
                                cwd=SOURCE_DIR, timeout=60)
        self.assertSucceeds(result)
        self.assertIn("match the schema", result.stdout)

    def test_failures_and_fix(self):
        docs = self.path("docs")
        shutil.copytree(REAL_DOCS, docs)
        hardening = os.path.join(docs, "deployment-hardening.md")
        original = self.read(hardening).decode()
        stale = original.replace("| api-server, scheduler |\n", "| api-server, scheduler, worker |\n", 1)
        self.assertNotEqual(stale, original)
        with open(hardening, "w") as f:
            f.write(stale + "\nSet `[core] no_such_option` and AIRLOCK__API__PORTT.\n")

        result = subprocess.run([BIN, "docs", "check", "--docs-dir", docs], capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, EXIT_FAILURE)
        self.assertIn("does not match the schema", result.stdout)
        self.assertIn("no option [core] no_such_option", result.stdout)
        self.assertIn("did you mean AIRLOCK__API__PORT?", result.stdout)

        result = subprocess.run([BIN, "docs", "check", "--docs-dir", docs, "--fix"],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, EXIT_FAILURE)  # the bogus references remain
        self.assertIn("rewrote the generated sensitive options table", result.stdout)
        self.assertNotIn("does not match the schema", result.stdout)
        fixed = self.read(hardening).decode()
        self.assertTrue(fixed.startswith(original))


if __name__ == "__main__":
    unittest.main()
