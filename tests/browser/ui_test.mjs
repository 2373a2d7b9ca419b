// The UI in a real browser: Debian's chromium (/usr/bin/chromium) driven by playwright-core
// (installed by scripts/install-deps.sh with `npm ci`; it never downloads a browser), against
// the real `airlock api-server` on a free loopback port.
// Sign in, see the dashboard, reload (the cookie works), sign out, and the old cookie no
// longer works. Screenshots go to $AIRLOCK_ARTIFACT_DIR (ctest: the build directory).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

const BIN = process.env.AIRLOCK_BIN;
const ARTIFACTS = process.env.AIRLOCK_ARTIFACT_DIR || tmpdir();
const SECRET = "browser-test-secret-".repeat(4);  // ≥ 64 bytes

// Starts the api-server; resolves with its base URL and the admin's generated password.
function startServer(home) {
  const proc = spawn(BIN, ["api-server", "--host", "127.0.0.1", "--port", "0", "--migrate"], {
    env: { PATH: process.env.PATH, HOME: home, AIRLOCK_HOME: home,
           AIRLOCK__API_AUTH__JWT_SECRET: SECRET },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let timer = null;
    const lines = readline.createInterface({ input: proc.stdout });
    let base = null;
    lines.on("line", (line) => {
      if (!base && line.includes("listening on")) base = line.trim().split(" ").pop();
      const m = line.match(/^Simple auth manager \| Password for user 'admin': (\S+)$/);
      if (base && m) {
        clearTimeout(timer);
        resolve({ proc, base, password: m[1], stderr: () => stderr });
      }
    });
    proc.on("exit", (code) => reject(new Error("api-server exited " + code + ": " + stderr)));
    timer = setTimeout(() => reject(new Error("api-server did not start: " + stderr)), 30000);
  });
}

test("sign in, dashboard, reload, sign out, old cookie refused", async () => {
  assert.ok(BIN, "AIRLOCK_BIN is not set");
  const home = mkdtempSync(path.join(tmpdir(), "airlock-ui-"));
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await startServer(home);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();

    // Not signed in: the dashboard sends us to the login page.
    await page.goto(server.base + "/");
    assert.equal(new URL(page.url()).pathname, "/login");

    // A wrong password is refused on the page.
    await page.fill("#username", "admin");
    await page.fill("#password", "not-the-password");
    await page.click("#login-button");
    await page.waitForSelector("#login-error:not([hidden])");
    assert.equal(await page.textContent("#login-error"), "Invalid credentials");

    await page.fill("#password", server.password);
    await Promise.all([page.waitForURL(server.base + "/"), page.click("#login-button")]);
    await page.locator("#status", { hasText: "Dag(s)" }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, "ui-dashboard.png"), fullPage: true });

    const cookies = await context.cookies();
    const token = cookies.find((c) => c.name === "_token");
    assert.ok(token, "no _token cookie");
    assert.equal(token.httpOnly, true);
    assert.equal(token.sameSite, "Lax");
    assert.equal(token.path, "/");
    assert.equal(await page.evaluate(() => document.cookie.includes("_token")), false);

    // Reload: the cookie still signs us in.
    await page.reload();
    assert.equal(new URL(page.url()).pathname, "/");
    await page.locator("#status", { hasText: "Dag(s)" }).waitFor();

    // Sign out: back at the login page, the cookie gone.
    await Promise.all([page.waitForURL(server.base + "/login"), page.click("#logout")]);
    assert.equal((await context.cookies()).find((c) => c.name === "_token"), undefined);
    await page.screenshot({ path: path.join(ARTIFACTS, "ui-signed-out.png") });

    // The old cookie, put back, is refused: its token was revoked.
    await context.addCookies([token]);
    const refused = await context.request.get(server.base + "/api/v2/dags");
    assert.equal(refused.status(), 403);
    assert.deepEqual(await refused.json(), { detail: "Invalid JWT token" });
    await page.goto(server.base + "/");
    assert.equal(new URL(page.url()).pathname, "/login");

    // The password never reached the server's log.
    assert.ok(!server.stderr().includes(server.password));
  } finally {
    await browser.close();
    server.proc.kill("SIGTERM");
    rmSync(home, { recursive: true, force: true });
  }
});
