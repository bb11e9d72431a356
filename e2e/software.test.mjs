// End-to-end test of the panel's Software page in headless Chromium,
// against the real server with a software inventory discovered by a
// complete import of real scan packages: the corpus's Debian 12 host (its
// dpkg status: bash, OpenSSH, Perl, …) on three computers, two of them
// with IBM's two real SWID tags under isotag_scan/, and the real
// dpkg-query capture of a Debian 6 machine (Apache HTTP Server). An
// operator catalog layer adds IBM Business Automation Manager Open
// Editions 9.0 over the two bundled IBM components, so that each has two
// bundling options to reassign between.
//
//   cd e2e && npm ci && node --test software.test.mjs
//
// Environment: as panel.test.mjs; E2E_COPY_DOCS=1 also copies the
// screenshot of the page to docs/img/panel-software.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  root, SHOTS, startServer, stopServer, addUser, launchBrowser, newPage, login,
  getToken, apiCall, importAndWait, writeScanPackage,
} from "./common.mjs";

const ADMIN_PW = "admin-password-e2e";
const PW = "user-password-e2e";
const host = (f) => `hosts/debian12-vm/${f}`;
const DEBIAN = { cpuinfo: host("cpuinfo"), "lscpu.json": host("lscpu.json"), "dpkg-status": host("dpkg-status") };

const COMPUTERS = [
  { stamp: "202611280810", endpoint: "app-01", name: "app-01", dns: "app-01.example.test", os: "Debian GNU/Linux 12 (bookworm)",
    members: { ...DEBIAN, "isotag_scan/": "swid-ibm" } },
  { stamp: "202611280815", endpoint: "app-02", name: "app-02", dns: "app-02.example.test", os: "Debian GNU/Linux 12 (bookworm)",
    members: { ...DEBIAN, "isotag_scan/": "swid-ibm" } },
  { stamp: "202611280820", endpoint: "web-01", name: "web-01", dns: "web-01.example.test", os: "Debian GNU/Linux 12 (bookworm)",
    members: DEBIAN },
  { stamp: "202611271400", endpoint: "db-01", name: "db-01", dns: "db-01.example.test", os: "Debian GNU/Linux 6.0",
    members: { cpuinfo: "cpuinfo/linux-hp-dl180", "dpkg-query.tsv": "packaging/dpkg-query.tsv" } },
];

// The operator's layer: a product over the two bundled IBM components (by
// reference), as an operator entitled to the suite would add it; the
// metric is the operator's entitlement, not a claim of the bundled catalog.
const OPERATOR_CATALOG = {
  catalog_version: "e2e-bamoe-1",
  products: [{
    id: "ibm-bamoe-9", publisher: "IBM", name: "IBM Business Automation Manager Open Editions", release: "9.0", metric: "VPC",
    components: [{ id: "ibm-decision-manager-open-edition" }, { id: "ibm-process-automation-manager-open-edition" }],
  }],
};

let server, base, tmp, browser, token, dataDir;
const errors = [];

// Sets the operator's catalog layer through `PUT /api/catalog`; a server
// without catalog management yet (404) gets the row its storage reads,
// written with the sqlite3 command.
async function setOperatorCatalog() {
  const doc = JSON.stringify(OPERATOR_CATALOG);
  const r = await fetch(`${base}/api/catalog`, { method: "PUT", headers: { Token: token, "Content-Type": "application/json" }, body: doc });
  assert.equal(r.status, 200, await r.text());
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(path.join(tmpdir(), "openlmt-e2e-software-"));
  dataDir = path.join(tmp, "data");
  const ds = path.join(dataDir, "datasource");
  for (const c of COMPUTERS) writeScanPackage(ds, c.stamp, c, c.members);
  ({ child: server, base } = await startServer(dataDir, { OPENLMT_ADMIN_PASSWORD: ADMIN_PW }));
  addUser(dataDir, "analyst", PW, ["view_software"]);
  addUser(dataDir, "viewer", PW, ["view_endpoints"]);
  token = await getToken(base, "admin", ADMIN_PW);
  await setOperatorCatalog();
  const imp = await importAndWait(base, token);
  assert.equal(imp.status, "successful", JSON.stringify(imp));
  assert.equal(imp.packages.imported, COMPUTERS.length, JSON.stringify(imp));
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (process.env.E2E_COPY_DOCS === "1") {
    copyFileSync(path.join(SHOTS, "software.png"), path.join(root, "docs/img/panel-software.png"));
  }
});

const enc = (v) => encodeURIComponent(JSON.stringify(v));

async function presentInstances() {
  return (await apiCall(base, token, `/api/sam/v2/software_instances?limit=100000&criteria=${enc({ and: [["is_present", "=", true]] })}`)).rows;
}

// The products as the page should show them, from the API's instances.
function expectedProducts(rows) {
  const by = new Map();
  for (const r of rows) {
    const key = r.product_release_guid ?? `component:${r.discoverable_guid}`;
    const p = by.get(key) || { name: r.product_name ?? r.component_name, publisher: r.product_publisher_name, release: r.product_release,
      metric: r.metric_id, computers: new Set(), unconfirmed: 0 };
    p.computers.add(r.computer_id);
    if (!r.is_confirmed) p.unconfirmed += 1;
    by.set(key, p);
  }
  return by;
}

async function audit() {
  return (await apiCall(base, token, "/api/sam/v2/classification_audit?limit=1000")).rows;
}

const productRow = (page, name) => page.locator("#products tbody tr", { has: page.getByRole("button", { name, exact: true }) });
async function productCells(page, name) {
  return (await productRow(page, name).locator("td").allTextContents()).map((t) => t.trim());
}
const instanceRow = (page, id) => page.locator(`#instances tbody tr[data-id="${id}"]`);
async function instanceCells(page, id) {
  return (await instanceRow(page, id).locator("td").allTextContents()).map((t) => t.trim());
}
const result = (page) => page.locator("#classify-result");

async function openProduct(page, name, count) {
  await page.getByRole("button", { name, exact: true }).click();
  // The click starts the load (aria-busy) at once; wait for its end.
  await page.locator("#instances:not([aria-busy])").waitFor();
  await page.getByRole("heading", { name: new RegExp(`^Instances of ${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`) }).waitFor();
  await page.locator("#instances-pager .page-info", { hasText: `of ${count} instance${count === 1 ? "" : "s"}` }).waitFor();
}

test("a user who may classify: products, drill-down, confirm, exclude, reassign, suppress", async () => {
  const { context, page } = await newPage(browser, errors, { viewport: { width: 1480, height: 900 } });
  await login(page, base, "admin", ADMIN_PW, "/management/software");
  await page.waitForURL(`${base}/management/software`);
  await page.getByRole("heading", { name: "Software", level: 1 }).waitFor();
  const nav = page.getByRole("navigation", { name: "Panel pages" });
  assert.equal(await nav.getByRole("link", { name: "Software" }).getAttribute("aria-current"), "page");

  // The products, aggregated from the present instances, as the API has them.
  let rows = await presentInstances();
  let expected = expectedProducts(rows);
  await page.locator("#products-info", { hasText: `${expected.size} products` }).waitFor();
  const headers = (await page.locator("#products thead th").allTextContents()).map((t) => t.trim());
  assert.deepEqual(headers, ["Publisher", "Product", "Release", "Metric", "Computers", "Unconfirmed"]);
  for (const p of expected.values()) {
    assert.deepEqual(await productCells(page, p.name),
      [p.publisher, p.name, p.release ?? "—", p.metric ?? "none", String(p.computers.size), String(p.unconfirmed)], p.name);
  }
  // The corpus host's bash on three computers, nothing confirmed yet; the
  // IBM products from the real tags on two.
  assert.deepEqual(await productCells(page, "GNU Bash"), ["GNU Project", "GNU Bash", "—", "none", "3", "3"]);
  assert.deepEqual(await productCells(page, "IBM Decision Manager Open Edition"), ["IBM", "IBM Decision Manager Open Edition", "—", "none", "2", "2"]);
  assert.deepEqual(await productCells(page, "IBM Process Automation Manager Open Edition"), ["IBM", "IBM Process Automation Manager Open Edition", "—", "none", "2", "2"]);
  assert.deepEqual(await productCells(page, "Apache HTTP Server"), ["Apache Software Foundation", "Apache HTTP Server", "—", "none", "1", "1"]);
  // No instance is bundled to the operator's suite yet (the tie breaker chose the single products).
  assert.equal(await productRow(page, "IBM Business Automation Manager Open Editions").count(), 0);

  // Search: any part of the publisher, product or component, any letter case; kept in the address.
  const search = page.getByRole("searchbox", { name: "Search products" });
  await search.fill("ibm");
  await page.locator("#products-info", { hasText: "2 products matching “ibm”" }).waitFor();
  await search.fill("OPENSSH");
  await page.locator("#products-info", { hasText: "1 product matching “OPENSSH”" }).waitFor();
  assert.match(page.url(), /[?&]q=OPENSSH/);
  await search.fill("no-such-product");
  await page.getByRole("cell", { name: "No products match “no-such-product”." }).waitFor();
  await search.fill("");
  await page.locator("#products-info", { hasText: `${expected.size} products` }).waitFor();

  // Drill-down to GNU Bash: its three instances with their evidence.
  await openProduct(page, "GNU Bash", 3);
  assert.match(page.url(), /[?&]product=bash/);
  const bash = rows.filter((r) => r.product_release_guid === "bash");
  const ih = (await page.locator("#instances thead th").allTextContents()).map((t) => t.trim());
  assert.deepEqual(ih, ["Details", "Computer", "Component", "Version", "Discovery path", "Evidence", "Bundling rule", "Status", "Discovered", "Actions"]);
  const col = (n) => ih.indexOf(n);
  const onApp01 = bash.find((r) => r.computer_name === "app-01");
  let cells = await instanceCells(page, onApp01.instance_id);
  assert.equal(cells[col("Computer")], "app-01app-01.example.test");
  assert.equal(cells[col("Component")], "GNU Bash");
  assert.equal(cells[col("Version")], "5.2.15-2+b8");
  assert.equal(cells[col("Discovery path")], "dpkg");
  assert.equal(cells[col("Evidence")], "Package namedpkg: bash 5.2.15-2+b8");
  assert.equal(cells[col("Bundling rule")], "Single Bundling Option");
  assert.equal(cells[col("Status")], "Unconfirmed");
  assert.equal(await page.locator("#instances tbody tr[data-id]").count(), 3);
  // bash has one bundling option: nothing to reassign it to.
  assert.equal(await page.getByRole("button", { name: /^Reassign GNU Bash/ }).count(), 0);

  // Confirm one: the API's summary, the row and the product's count follow.
  await page.getByRole("button", { name: "Confirm GNU Bash on app-01", exact: true }).click();
  await result(page).filter({ hasText: "Confirmed: 1 instance." }).waitFor();
  assert.equal(await result(page).getAttribute("role"), "status");
  await instanceRow(page, onApp01.instance_id).locator(".flag.ok", { hasText: "Confirmed" }).waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll("#products tbody tr")].some((tr) => tr.textContent.includes("GNU Bash") && tr.lastElementChild.textContent === "2"));
  assert.equal(await page.getByRole("button", { name: "Confirm GNU Bash on app-01", exact: true }).count(), 0);
  let trail = await audit();
  assert.ok(trail.some((a) => a.action === "confirm" && a.instance_id === onApp01.instance_id && a.user_name === "admin"), JSON.stringify(trail));

  // Suppress bash on web-01 with a comment.
  const onWeb01 = bash.find((r) => r.computer_name === "web-01");
  await page.getByRole("button", { name: "Suppress GNU Bash on web-01", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Suppress component on this computer" });
  await dialog.waitFor();
  await dialog.getByLabel("Comment").fill("Part of the base OS image, not tracked as software here");
  await dialog.getByRole("button", { name: "Suppress" }).click();
  await dialog.waitFor({ state: "hidden" });
  await result(page).filter({ hasText: "Suppressed: 1 instance." }).waitFor();
  await page.getByRole("button", { name: "Unsuppress GNU Bash on web-01", exact: true }).waitFor();
  cells = await instanceCells(page, onWeb01.instance_id);
  assert.equal(cells[col("Status")], "UnconfirmedSuppressed“Part of the base OS image, not tracked as software here”");
  trail = await audit();
  assert.ok(trail.some((a) => a.action === "suppress" && a.instance_id === onWeb01.instance_id && a.comment === "Part of the base OS image, not tracked as software here"), JSON.stringify(trail));

  // The details: every evidence field and the classification history.
  await page.getByRole("button", { name: "Details of GNU Bash on app-01", exact: true }).click();
  const details = page.getByRole("group", { name: "Details of GNU Bash on app-01" });
  await details.waitFor();
  const dd = async (term) => (await details.locator("div", { has: page.locator("dt", { hasText: new RegExp(`^${term}$`) }) }).locator("dd").textContent()).trim();
  assert.equal(await dd("Signature kind"), "Package name");
  assert.equal(await dd("Evidence name"), "bash");
  assert.equal(await dd("Evidence version"), "5.2.15-2+b8");
  assert.equal(await dd("Bundling rule"), "Single Bundling Option (2)");
  assert.match(await details.locator("ol.audit").textContent(), /confirm by admin/);
  await page.getByRole("button", { name: "Details of GNU Bash on app-01", exact: true }).click();

  // Exclude IBM Decision Manager on app-02: refused without a comment (the
  // server's reason, nothing changed), then with one.
  await page.getByRole("button", { name: "IBM Decision Manager Open Edition", exact: true }).click();
  await page.getByRole("heading", { name: "Instances of IBM Decision Manager Open Edition" }).waitFor();
  await page.locator("#instances-pager .page-info", { hasText: "of 2 instances" }).waitFor();
  const dm = rows.filter((r) => r.product_release_guid === "ibm-decision-manager-open-edition");
  const dmApp02 = dm.find((r) => r.computer_name === "app-02");
  const dmApp01 = dm.find((r) => r.computer_name === "app-01");
  cells = await instanceCells(page, dmApp02.instance_id);
  assert.equal(cells[col("Evidence")], "SWID persistentIdswid: ibm.com-a46f72acb4204f1c8b27228722103341-9.0.0 9.0.0");
  assert.equal(cells[col("Version")], "9.0.0");
  assert.equal(cells[col("Discovery path")], "not recorded"); // a format-1 package names no tag directory
  await page.getByRole("button", { name: "Exclude IBM Decision Manager Open Edition on app-02", exact: true }).click();
  const excl = page.getByRole("dialog", { name: "Exclude product on this computer" });
  await excl.waitFor();
  await excl.getByRole("button", { name: "Exclude" }).click();
  await excl.getByRole("alert").filter({ hasText: "Refused (1 instance): exclusion_or_suppress_comment is required to exclude." }).waitFor();
  assert.ok(await excl.isVisible());
  await page.screenshot({ path: path.join(SHOTS, "software-exclude-refused.png"), animations: "disabled" });
  assert.equal((await presentInstances()).find((r) => r.instance_id === dmApp02.instance_id).is_excluded, false);
  await excl.getByLabel("Comment").fill("Development machine: covered by the developer entitlement");
  await excl.getByRole("button", { name: "Exclude" }).click();
  await excl.waitFor({ state: "hidden" });
  await result(page).filter({ hasText: /^Excluded: 1 instance\./ }).waitFor();
  await page.getByRole("button", { name: "Include IBM Decision Manager Open Edition on app-02", exact: true }).waitFor();
  cells = await instanceCells(page, dmApp02.instance_id);
  assert.match(cells[col("Status")], /Excluded“Development machine: covered by the developer entitlement”/);
  trail = await audit();
  assert.ok(trail.some((a) => a.action === "exclude" && a.computer_id === dmApp02.computer_id && a.comment === "Development machine: covered by the developer entitlement"), JSON.stringify(trail));
  // And included back.
  await page.getByRole("button", { name: "Include IBM Decision Manager Open Edition on app-02", exact: true }).click();
  await result(page).filter({ hasText: /^Included: 1 instance\./ }).waitFor();
  await page.getByRole("button", { name: "Exclude IBM Decision Manager Open Edition on app-02", exact: true }).waitFor();
  assert.doesNotMatch((await instanceCells(page, dmApp02.instance_id))[col("Status")], /Excluded/);
  assert.ok((await audit()).some((a) => a.action === "include" && a.computer_id === dmApp02.computer_id));

  // Reassign IBM Decision Manager on app-01 to the suite, the component's
  // other bundling option.
  await page.getByRole("button", { name: "Reassign IBM Decision Manager Open Edition on app-01", exact: true }).click();
  const re = page.getByRole("dialog", { name: "Reassign instance" });
  await re.waitFor();
  const select = re.getByLabel("Assign to product");
  await page.waitForFunction(() => !document.getElementById("classify-product").disabled);
  assert.deepEqual((await select.locator("option").allTextContents()), ["IBM · IBM Business Automation Manager Open Editions 9.0 (VPC)"]);
  await re.getByRole("button", { name: "Reassign" }).click();
  await re.waitFor({ state: "hidden" });
  await result(page).filter({ hasText: "Bundled: 1 instance." }).waitFor();
  await page.locator("#instances-pager .page-info", { hasText: "1–1 of 1 instance" }).waitFor();
  assert.equal(await instanceRow(page, dmApp01.instance_id).count(), 0);
  // The suite is now in the products list, with the instance, bundled by hand.
  await productRow(page, "IBM Business Automation Manager Open Editions").waitFor();
  assert.deepEqual(await productCells(page, "IBM Business Automation Manager Open Editions"),
    ["IBM", "IBM Business Automation Manager Open Editions", "9.0", "VPC", "1", "1"]);
  assert.deepEqual(await productCells(page, "IBM Decision Manager Open Edition"), ["IBM", "IBM Decision Manager Open Edition", "—", "none", "1", "1"]);
  await openProduct(page, "IBM Business Automation Manager Open Editions", 1);
  cells = await instanceCells(page, dmApp01.instance_id);
  assert.equal(cells[col("Bundling rule")], "Manual Assignment");
  assert.equal(cells[col("Computer")], "app-01app-01.example.test");
  trail = await audit();
  assert.ok(trail.some((a) => a.action === "assign" && a.instance_id === dmApp01.instance_id && a.product_release_guid === "ibm-bamoe-9"), JSON.stringify(trail));
  const after = (await presentInstances()).find((r) => r.instance_id === dmApp01.instance_id);
  assert.equal(after.product_release_guid, "ibm-bamoe-9");
  assert.equal(after.bundling_evidence.bundling_rule, 1);

  // The product list agrees with the API after all of it.
  rows = await presentInstances();
  expected = expectedProducts(rows);
  for (const p of expected.values()) {
    assert.deepEqual((await productCells(page, p.name)).slice(4), [String(p.computers.size), String(p.unconfirmed)], p.name);
  }

  // The screenshot for the docs: GNU Bash open, one confirmed, one suppressed.
  await openProduct(page, "GNU Bash", 3);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, "software.png"), fullPage: true, animations: "disabled" });
  // The drill-down stays in the address: a reload opens it again.
  await page.reload();
  await page.locator("#instances-pager .page-info", { hasText: "of 3 instances" }).waitFor();
  await context.close();
  assert.deepEqual(errors, []);
});

test("a user with view_software only: the lists, no classification controls", async () => {
  const { context, page } = await newPage(browser, errors);
  await login(page, base, "analyst", PW, "/management/software?product=bash");
  await page.waitForURL(`${base}/management/software?product=bash`);
  await page.locator("#instances-pager .page-info", { hasText: "of 3 instances" }).waitFor();
  await productRow(page, "GNU Bash").waitFor();
  const ih = (await page.locator("#instances thead th").allTextContents()).map((t) => t.trim());
  assert.ok(!ih.includes("Actions"), ih.join());
  assert.equal(await page.locator("#instances button[data-action]").count(), 0);
  assert.equal(await page.locator("dialog").count(), 0);
  assert.equal(await page.getByRole("button", { name: /^(Confirm|Reassign|Exclude|Suppress)/ }).count(), 0);
  // The API refuses a change from this user anyway.
  const status = await page.evaluate(() => fetch("/api/sam/v2/software_instances", { method: "PUT", headers: {
    "Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
    body: JSON.stringify([{ instance_id: 1, is_confirmed: true }]) }).then((r) => r.status));
  assert.equal(status, 403);
  // Phone-sized: the page does not scroll sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page wider than a phone by ${overflow}px`);
  await context.close();
  assert.deepEqual(errors, []);
});

test("a user without view_software: a clear message, no lists", async () => {
  const { context, page } = await newPage(browser, errors);
  await login(page, base, "viewer", PW, "/management/software");
  await page.waitForURL(`${base}/management/software`);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /Your user viewer does not have the view_software permission needed to list the software inventory\. An administrator can grant it with openlmt user permissions viewer --permission view_software/);
  assert.equal(await page.locator("#products").count(), 0);
  assert.equal(await page.getByRole("searchbox").count(), 0);
  const status = await page.evaluate(() => fetch("/api/sam/v2/software_instances").then((r) => r.status));
  assert.equal(status, 403);
  await context.close();
  assert.deepEqual(errors, []);
});
