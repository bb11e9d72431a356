// End-to-end test of the Data Imports panel in headless Chromium (the
// Debian `chromium` package, driven by playwright-core; no browser is
// downloaded). Starts the real server binary with a fresh data directory.
//
//   cd e2e && npm ci && node --test
//
// Environment: OPENLMT_BIN (default ../target/debug/openlmt),
// CHROMIUM (default /usr/bin/chromium), E2E_COPY_DOCS=1 to copy the two
// screenshots into docs/img/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  root, SHOTS, startServer, stopServer, addUser, launchBrowser, newPage as openPage, login as loginAs,
} from "./common.mjs";

const ADMIN_PW = "admin-password-e2e";
const VIEWER_PW = "viewer-password-e2e";
// Each import sleeps 2 s before reading and 2 s before publishing (test
// hooks: the binary must be built with `--features test-hooks`).
const HOOKS = "sleep=before_read:2000;sleep=before_publish:2000";

let server, base, tmp, browser;
const pageErrors = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(path.join(tmpdir(), "openlmt-e2e-"));
  const dataDir = path.join(tmp, "data");
  ({ child: server, base } = await startServer(dataDir, { OPENLMT_ADMIN_PASSWORD: ADMIN_PW, OPENLMT_TEST_HOOKS: HOOKS }));
  // A read-only user (no permission).
  addUser(dataDir, "viewer", VIEWER_PW);
  // A file in the data source that is not a scan package, so the import
  // has something to reject.
  mkdirSync(path.join(dataDir, "datasource"), { recursive: true });
  writeFileSync(path.join(dataDir, "datasource", "202611281200-broken-host.tar.gz"), "this is not a gzip file\n");
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const newPage = (opts = {}) => openPage(browser, pageErrors, opts);

// Logs in with the keyboard only.
const login = (page, user, password) => loginAs(page, base, user, password);

test("admin: login, run an import, history, log, schedule, logout", async () => {
  const { context, page } = await newPage();

  // A wrong password: one clear message.
  await login(page, "admin", "not-the-password");
  await page.getByText("Wrong user name or password.").waitFor();
  assert.match(page.url(), /\/login$/);
  await page.screenshot({ path: path.join(SHOTS, "login-wrong-password.png"), animations: "disabled" });

  await login(page, "admin", ADMIN_PW);
  await page.waitForURL(`${base}/management/imports`);
  await page.getByRole("heading", { name: "Data Imports" }).waitFor();
  await page.locator("#mode", { hasText: "no imports yet" }).waitFor();
  assert.equal(await page.locator("#history-body tr[data-id]").count(), 0);

  // Start a complete import and watch the bar move.
  await page.getByRole("button", { name: "Run complete import" }).click();
  await page.locator("#notice", { hasText: /Started complete import #1/ }).waitFor();
  const bar = page.getByRole("progressbar", { name: "Import progress" });
  const seen = new Set();
  let runningShot = false;
  let alreadyChecked = false;
  const deadline = Date.now() + 60000;
  for (;;) {
    const v = Number(await bar.getAttribute("aria-valuenow"));
    const mode = await page.locator("#mode").textContent();
    seen.add(v);
    if (mode === "running" && v > 0 && v < 100) {
      const step = (await page.locator("#step").textContent()).trim();
      const realStep = step !== "—" && step !== "";
      if (!runningShot && realStep) {
        await page.screenshot({ path: path.join(SHOTS, "panel-running.png"), fullPage: true, animations: "disabled" });
        runningShot = true;
      } else if (runningShot && !alreadyChecked) {
        // A second start is refused, and the page says so.
        await page.getByRole("button", { name: "Run raw data import" }).click();
        await page.locator("#notice", { hasText: "An import is already running" }).waitFor();
        alreadyChecked = true;
      }
    }
    if (mode === "idle" && v === 100) break;
    assert.ok(Date.now() < deadline, `import did not finish; progress seen: ${[...seen]}`);
    await page.waitForTimeout(150);
  }
  const middle = [...seen].filter((v) => v > 0 && v < 100);
  assert.ok(middle.length >= 2, `the bar should move; seen ${[...seen]}`);
  assert.ok(alreadyChecked && runningShot, `saw the import running: shot ${runningShot}, checked ${alreadyChecked}, seen ${[...seen]}`);
  assert.equal(await page.locator("#progress-text").textContent(), "100%");

  // The new history row.
  const row = page.locator("#history-body tr[data-id='1']");
  await row.waitFor();
  assert.equal(await page.locator("#history-body tr[data-id]").count(), 1, "no second import started");
  await page.locator("#notice", { hasText: /The import ended: (successful|failed)/ }).waitFor();
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[1], "Complete");
  assert.equal(cells[2], "panel");
  assert.equal(cells[3], "admin");
  assert.ok(["successful", "failed"].includes(cells[6]), cells[6]);
  await page.locator("#last-status", { hasText: cells[6] }).waitFor();
  // Times: local zone shown, UTC on hover.
  const title = await row.locator("time").first().getAttribute("title");
  assert.match(title, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

  // Its log, in the page and as a download.
  await row.getByRole("button", { name: "Log and details of import 1" }).click();
  const dialog = page.getByRole("dialog", { name: "Import #1" });
  await dialog.waitFor();
  await page.locator("#detail-log").filter({ hasText: /\S/ }).waitFor();
  const log = await page.locator("#detail-log").textContent();
  assert.ok(log.length > 20 && !log.includes("(the log is empty)"), log);
  await page.locator("#detail-steps tbody tr").first().waitFor();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download log" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "import-1.log");
  const rejected = Number(cells[8]);
  if (rejected > 0) {
    await page.locator("#rejected-table tbody tr").first().waitFor();
    assert.match(await page.locator("#rejected-table").textContent(), /broken-host/);
  }
  await page.screenshot({ path: path.join(SHOTS, "panel-log.png"), animations: "disabled" });
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });

  // The schedule: a new time changes the next import.
  const nextBefore = await page.locator("#sched-next").textContent();
  await page.getByLabel("Run imports on a schedule").check();
  await page.getByRole("radio", { name: "Cron expression" }).check();
  const cronField = page.getByRole("textbox", { name: /Cron expression/ });
  const cron = nextBefore.includes("4:30") ? "45 5 * * *" : "30 4 * * *";
  await cronField.fill(cron);
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await page.locator("#sched-message", { hasText: "Schedule saved." }).waitFor();
  const nextAfter = await page.locator("#sched-next").textContent();
  assert.notEqual(nextAfter, nextBefore);
  await page.locator("#next-import time").waitFor();
  const nextUtc = await page.locator("#sched-next time").getAttribute("title");
  const api = await page.evaluate(() => fetch("/api/import_schedule").then((r) => r.json()));
  assert.equal(api.cron, cron);
  assert.equal(api.timezone, "Europe/Berlin");
  assert.equal(nextUtc, api.next_import_time.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC"));
  await page.locator("#next-import", { hasText: nextAfter.split(" (")[0] }).waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(SHOTS, "panel-idle.png"), fullPage: true, animations: "disabled" });

  // A bad cron expression: the server's message, and nothing saved.
  await cronField.fill("61 * * * *");
  await page.getByRole("button", { name: "Save schedule" }).click();
  const msg = page.locator("#sched-message.error");
  await msg.waitFor();
  const text = await msg.textContent();
  assert.ok(text.length > 5, text);
  const apiErr = await page.evaluate(() => fetch("/api/import_schedule", {
    method: "PUT", headers: { "Content-Type": "application/json",
      "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
    body: JSON.stringify({ cron: "61 * * * *" }),
  }).then((r) => r.json()));
  assert.equal(text, apiErr.error);
  assert.equal((await page.evaluate(() => fetch("/api/import_schedule").then((r) => r.json()))).cron, cron);
  await msg.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, "panel-bad-cron.png"), animations: "disabled" });

  // The API refuses a cookie-authenticated change without the CSRF token.
  const status = await page.evaluate(() => fetch("/api/import_schedule", {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: "{\"enabled\": false}",
  }).then((r) => r.status));
  assert.equal(status, 403);

  // Phone-sized: no sideways scrolling.
  const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    storageState: await context.storageState() });
  await phone.page.goto(`${base}/management/imports`);
  await phone.page.locator("#history-body tr[data-id='1']").waitFor();
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page wider than a phone by ${overflow}px`);
  await phone.page.screenshot({ path: path.join(SHOTS, "panel-phone.png"), fullPage: true, animations: "disabled" });
  await phone.context.close();

  // Log out.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(/\/login\?logged_out=1$/);
  await page.getByText("You are logged out.").waitFor();
  await page.goto(`${base}/management/imports`);
  assert.match(page.url(), /\/login\?next=/);
  await context.close();
  assert.deepEqual(pageErrors, []);
});

test("read-only user: no run buttons, schedule not editable", async () => {
  const { context, page } = await newPage();
  await login(page, "viewer", VIEWER_PW);
  await page.waitForURL(`${base}/management/imports`);
  await page.locator("#history-body tr[data-id]").first().waitFor();
  await page.locator("#mode", { hasText: "idle" }).waitFor();
  for (const name of ["Run complete import", "Run raw data import", "Cancel", "Save schedule"]) {
    assert.equal(await page.getByRole("button", { name }).count(), 0, `${name} shown`);
  }
  assert.ok(await page.getByLabel("Run imports on a schedule").isDisabled());
  assert.match(await page.locator(".role").textContent(), /read-only/);
  // The log is readable.
  await page.getByRole("button", { name: "Log and details of import 1" }).click();
  await page.locator("#detail-log").filter({ hasText: /\S/ }).waitFor();
  await page.keyboard.press("Escape");
  await page.screenshot({ path: path.join(SHOTS, "panel-read-only.png"), fullPage: true, animations: "disabled" });
  await context.close();
  assert.deepEqual(pageErrors, []);
});

after(() => {
  if (process.env.E2E_COPY_DOCS === "1") {
    mkdirSync(path.join(root, "docs/img"), { recursive: true });
    copyFileSync(path.join(SHOTS, "panel-running.png"), path.join(root, "docs/img/panel-running.png"));
    copyFileSync(path.join(SHOTS, "panel-idle.png"), path.join(root, "docs/img/panel-idle.png"));
  }
});
