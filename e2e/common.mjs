// Shared by the panel's end-to-end tests: the real server binary with a
// fresh data directory, headless Chromium (the Debian `chromium` package
// driven by playwright-core; no browser is downloaded), keyboard login,
// and real scan packages built from the shared corpus.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, copyFileSync, cpSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");
export const BIN = path.resolve(root, process.env.OPENLMT_BIN || "target/debug/openlmt");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const SHOTS = path.join(here, "screenshots");
export const CORPUS = path.resolve(root, process.env.OPENLMT_CORPUS || "../shared/corpus");

// Starts `openlmt serve` on port 0; resolves when it prints its address.
export function startServer(dataDir, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ["serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
      env: { ...process.env, OPENLMT_LOG: "warn", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/openlmt listening on (http:\/\/[\d.:]+)/);
      if (m) { clearTimeout(timer); resolve({ child, base: m[1] }); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${out}`)); });
  });
}

export async function stopServer(child) {
  if (!child) return;
  child.removeAllListeners("exit");
  child.kill("SIGTERM");
  await new Promise((r) => { child.once("exit", r); setTimeout(r, 10000); });
}

// Adds a user with the CLI (straight on the database, safe while the server runs).
export function addUser(dataDir, name, password, permissions = []) {
  const args = ["user", "add", name, "--password-stdin", "--data-dir", dataDir];
  for (const p of permissions) args.push("--permission", p);
  const r = spawnSync(BIN, args, { input: password + "\n", encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// A page in a new browser context; script errors and console errors (but
// the expected 401/403 resource loads) are collected in `errors`.
export async function newPage(browser, errors, opts = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    timezoneId: "America/New_York",
    locale: "en-US",
    acceptDownloads: true,
    ...opts,
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/401|403|Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return { context, page };
}

// Opens `target` without a session, lands on the login form and logs in
// with the keyboard only.
export async function login(page, base, user, password, target = "/management/imports") {
  await page.goto(`${base}${target}`);
  assert.equal(page.url(), `${base}/login?next=${encodeURIComponent(target)}`);
  await page.getByLabel("User name").focus();
  await page.keyboard.type(user);
  await page.keyboard.press("Tab");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
}

// A JSON API call with a token.
export async function apiCall(base, token, pathAndQuery, { method = "GET" } = {}) {
  const r = await fetch(`${base}${pathAndQuery}`, { method, headers: { Token: token, Accept: "application/json" } });
  const body = await r.json();
  assert.ok(r.ok, `${method} ${pathAndQuery}: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

export async function getToken(base, user, password) {
  const r = await fetch(`${base}/api/get_token`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user, password }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).token;
}

// Starts an import of the given type and waits until it has ended; returns
// the import's row.
export async function importAndWait(base, token, type = "true") {
  const before = (await apiCall(base, token, "/api/imports?limit=1")).rows[0];
  await apiCall(base, token, `/api/import_status.json?run=${type}`);
  const deadline = Date.now() + 120000;
  for (;;) {
    const top = (await apiCall(base, token, "/api/imports?limit=1")).rows[0];
    if (top && (!before || top.id > before.id) && top.finished_at) return top;
    assert.ok(Date.now() < deadline, "the import did not end in 2 minutes");
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Writes a real scan package `<stamp>-<endpoint>.tar.gz` into `dir`:
// computer.yml from `identity`, and the corpus files in `members`
// ({ member name in the package: path under the corpus }) unchanged. Made
// with the system's tar, as `tar -czf pkg.tgz -C dir .` (a layout the
// format accepts), then renamed into place so an import never sees half
// a file. `files` ({ member name: string or Buffer }) adds members made by
// the test (e.g. `product_uuid`, a nested `0_vmman.tar.gz`).
export function writeScanPackage(dir, stamp, identity, members, files = {}) {
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), "openlmt-pkg-"));
  const lines = ["format_version: 1", `endpointID: ${identity.endpoint}`];
  if (identity.name) lines.push(`Computer Name: ${identity.name}`);
  if (identity.dns) lines.push(`DNS Name: ${identity.dns}`);
  if (identity.ips) lines.push("IP Address:", ...identity.ips.map((ip) => `  - ${ip}`));
  if (identity.os) lines.push(`Operating System: ${identity.os}`);
  lines.push("Agent Version: openlmt-e2e");
  writeFileSync(path.join(work, "computer.yml"), lines.join("\n") + "\n");
  for (const [member, source] of Object.entries(members)) {
    const from = path.join(CORPUS, source);
    if (member.endsWith("/")) cpSync(from, path.join(work, member), { recursive: true });
    else {
      // A member in a directory (`isotag_scan/x.swidtag`) gets its directory.
      mkdirSync(path.dirname(path.join(work, member)), { recursive: true });
      copyFileSync(from, path.join(work, member));
    }
  }
  for (const [member, data] of Object.entries(files)) writeFileSync(path.join(work, member), data);
  const name = `${stamp}-${identity.endpoint}.tar.gz`;
  const tmp = path.join(dir, `.${name}.tmp`);
  const r = spawnSync("tar", ["-czf", tmp, "-C", work, "."], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  renameSync(tmp, path.join(dir, name));
  rmSync(work, { recursive: true, force: true });
  return path.join(dir, name);
}
