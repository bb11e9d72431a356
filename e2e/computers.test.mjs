// End-to-end test of the panel's Computers page in headless Chromium,
// against the real server with an inventory imported from real scan
// packages: twelve computers built from the shared corpus (the Debian 12
// VM host, real /proc/cpuinfo and dmidecode captures of HP, Dell, VMware,
// Raspberry Pi, PowerPC and laptop machines, the real dpkg-query and rpm
// captures), each package under its own endpoint id and name.
//
//   cd e2e && npm ci && node --test
//
// Environment: as panel.test.mjs; E2E_COPY_DOCS=1 also copies the
// screenshot of the page to docs/img/panel-computers.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import {
  root, BIN, SHOTS, startServer, stopServer, addUser, launchBrowser, newPage, login,
  getToken, apiCall, importAndWait, writeScanPackage,
} from "./common.mjs";

const ADMIN_PW = "admin-password-e2e";
const PW = "user-password-e2e";
const DEBIAN = "Debian GNU/Linux 12 (bookworm)";
const host = (f) => `hosts/debian12-vm/${f}`;

// The inventory: endpoint id, scan time (file name stamp), identity and
// which corpus captures the package carries.
const COMPUTERS = [
  { stamp: "202611280810", endpoint: "3becbc286466bc92c060df9b91d05d49", name: "web-01", dns: "web-01.example.test",
    ips: ["192.0.2.11", "2001:db8::11"], os: DEBIAN,
    members: { cpuinfo: host("cpuinfo"), "lscpu.json": host("lscpu.json"), "dpkg-status": host("dpkg-status"), "isotag_scan/": host("isotag_scan") } },
  { stamp: "202611280815", endpoint: "web-02", name: "web-02", dns: "web-02.example.test", ips: ["192.0.2.12"], os: DEBIAN,
    members: { cpuinfo: host("cpuinfo"), "lscpu.json": host("lscpu.json"), "dpkg-status": host("dpkg-status") } },
  { stamp: "202611271400", endpoint: "db-01", name: "db-01", dns: "db-01.example.test", ips: ["198.51.100.21"], os: "Debian GNU/Linux 6.0",
    members: { cpuinfo: "cpuinfo/linux-hp-dl180", "dmidecode.txt": "dmidecode/hp-dl180", "dpkg-query.tsv": "packaging/dpkg-query.tsv" } },
  { stamp: "202611271405", endpoint: "db-02", name: "db-02", dns: "db-02.example.test", ips: ["198.51.100.22"], os: "Red Hat Enterprise Linux Server 5.6",
    members: { cpuinfo: "cpuinfo/rhel-5.6", "rpm-qa.tsv": "packaging/rpm-qa.tsv" } },
  { stamp: "202611261000", endpoint: "app-vmware-01", name: "app-01", dns: "app-01.example.test", ips: ["198.51.100.31"], os: "Red Hat Enterprise Linux Server 6.2",
    members: { cpuinfo: "cpuinfo/rhel-6.2-vmware-2vcpus", "dmidecode.txt": "dmidecode/rhel-6.2-vmware-2vcpus", "rpm-qa.tsv": "packaging/rpm-qa.tsv" } },
  { stamp: "202611261010", endpoint: "esx-legacy", name: "esx-legacy", dns: "esx-legacy.example.test", ips: ["198.51.100.40"], os: "VMware ESX 2.5",
    members: { "dmidecode.txt": "dmidecode/vmware-esx-2.5" } },
  { stamp: "202611251200", endpoint: "r640-01", name: "r640-01", dns: "r640-01.example.test", ips: ["203.0.113.41"], os: "Red Hat Enterprise Linux 8",
    members: { "dmidecode.txt": "dmidecode/dell-r640" } },
  { stamp: "202611251210", endpoint: "r720-01", name: "r720-01", dns: "r720-01.example.test", ips: ["203.0.113.42"], os: "Red Hat Enterprise Linux 7",
    members: { "dmidecode.txt": "dmidecode/dell-r720" } },
  { stamp: "202611251220", endpoint: "dl360-01", name: "dl360-01", dns: "dl360-01.example.test", ips: ["203.0.113.43"], os: "Red Hat Enterprise Linux 7",
    members: { "dmidecode.txt": "dmidecode/hp-dl360-gen8" } },
  { stamp: "202611241500", endpoint: "pi-lab", name: "pi-lab", dns: null, ips: ["192.0.2.77"], os: "Raspbian GNU/Linux 9",
    members: { cpuinfo: "cpuinfo/linux-raspberry-pi-3-model-b" } },
  { stamp: "202611241510", endpoint: "laptop-07", name: "laptop-07", dns: "laptop-07.example.test", ips: ["192.0.2.107"], os: "Debian GNU/Linux 12 (bookworm)",
    members: { cpuinfo: "cpuinfo/toshiba-r630-2-core" } },
  // No Computer Name, DNS name or address: the page names it by its endpoint id.
  { stamp: "202611241520", endpoint: "ppc-prep-1", name: null, dns: null, ips: null, os: null,
    members: { cpuinfo: "cpuinfo/linux-ppc-1" } },
];

let server, base, tmp, browser, token, dataDir;
const errors = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(path.join(tmpdir(), "openlmt-e2e-computers-"));
  dataDir = path.join(tmp, "data");
  const ds = path.join(dataDir, "datasource");
  for (const c of COMPUTERS) writeScanPackage(ds, c.stamp, c, c.members);
  ({ child: server, base } = await startServer(dataDir, { OPENLMT_ADMIN_PASSWORD: ADMIN_PW }));
  addUser(dataDir, "auditor", PW, ["view_endpoints"]);
  addUser(dataDir, "viewer", PW, []);
  token = await getToken(base, "admin", ADMIN_PW);
  const imp = await importAndWait(base, token);
  assert.equal(imp.status, "successful", JSON.stringify(imp));
  assert.equal(imp.packages.imported, COMPUTERS.length, JSON.stringify(imp));
  // One computer decommissioned, so the page has a deleted one to show.
  await apiCall(base, token, "/api/sam/v2/computers?disconnected_endpoint_id=r720-01", { method: "DELETE" });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (process.env.E2E_COPY_DOCS === "1") {
    copyFileSync(path.join(SHOTS, "computers.png"), path.join(root, "docs/img/panel-computers.png"));
  }
});

// The API's view of the inventory, for comparing with the page.
async function apiRows(query = "") {
  return apiCall(base, token, `/api/sam/v2/computers?limit=1000${query}`);
}

const rows = (page) => page.locator("#computers tbody tr[data-id]");
const names = (page) => page.locator("#computers tbody tr[data-id] td:nth-child(2)").allTextContents();
const info = (page) => page.locator("#computers-pager .page-info");

// The names the page shows, in order, for the API's rows (a computer
// without a name shows its endpoint id).
const shown = (apiPage) => apiPage.rows.map((r) => r.name || r.endpoint_id);

async function waitInfo(page, text) {
  await page.locator("#computers-pager .page-info", { hasText: text }).waitFor();
}

test("a user with view_endpoints: list, unknown values, search, sort, paging, details", async () => {
  const { context, page } = await newPage(browser, errors);
  await login(page, base, "auditor", PW, "/management/computers");
  await page.waitForURL(`${base}/management/computers`);
  await page.getByRole("heading", { name: "Computers", level: 1 }).waitFor();

  // The navigation bar marks this page and links the others.
  const nav = page.getByRole("navigation", { name: "Panel pages" });
  assert.equal(await nav.getByRole("link", { name: "Computers" }).getAttribute("aria-current"), "page");
  assert.equal(await nav.getByRole("link", { name: "Data Imports" }).getAttribute("href"), "/management/imports");

  // Every computer, in the API's default order, with the total.
  const all = await apiRows();
  assert.equal(all.total, COMPUTERS.length);
  await waitInfo(page, `1–12 of 12 computers`);
  assert.deepEqual(await names(page), shown(all));

  // The table's cells, against the API's row.
  const cellsOf = async (label) => {
    const row = page.getByRole("row").filter({ has: page.getByRole("button", { name: `Details of ${label}`, exact: true }) });
    return (await row.locator("td").allTextContents()).map((t) => t.trim());
  };
  const headers = (await page.locator("#computers thead th").allTextContents()).map((t) => t.trim());
  assert.deepEqual(headers, ["Details", "Name", "DNS name", "IP addresses", "Operating system", "Processor", "Sockets",
    "Cores", "Threads", "Virtual", "Data source", "First seen", "Last seen", "Deleted"]);
  const col = (name) => headers.indexOf(name);
  // A DMI table without Core Count (VMware ESX 2.5): cores and threads unknown, not 0.
  const esx = await cellsOf("esx-legacy");
  assert.equal(esx[col("Cores")], "unknown");
  assert.equal(esx[col("Threads")], "unknown");
  assert.equal(esx[col("Sockets")], "1");
  assert.equal(esx[col("Virtual")], "VirtualVMware");
  const web = await cellsOf("web-01");
  assert.equal(web[col("IP addresses")], "192.0.2.112001:db8::11"); // one a line
  assert.equal(web[col("Virtual")], "VirtualKVM"); // the hypervisor under it
  assert.equal(web[col("Cores")], "2");
  const r640 = await cellsOf("r640-01");
  assert.deepEqual([r640[col("Sockets")], r640[col("Cores")], r640[col("Threads")]], ["2", "16", "32"]);
  assert.equal(r640[col("Virtual")], "Physical");
  assert.match(r640[col("Processor")], /Xeon\(R\) Gold 6244.*GenuineIntel · Xeon Gold 6244/);
  assert.equal(r640[col("Deleted")], "No");
  assert.match((await cellsOf("r720-01"))[col("Deleted")], /^Deleted/);
  // No name in the scan: the endpoint id names the computer.
  const ppc = await cellsOf("ppc-prep-1");
  assert.equal(ppc[col("Name")], "ppc-prep-1");
  assert.equal(ppc[col("DNS name")], "—");
  // Times in the browser's zone, UTC on hover.
  const seen = page.getByRole("row").filter({ has: page.getByRole("button", { name: "Details of db-01", exact: true }) }).locator("time").first();
  assert.equal(await seen.getAttribute("title"), "2026-11-27 14:00:00 UTC");
  assert.equal(await seen.textContent(), "Nov 27, 2026");

  // Search: any part of the name, DNS name, IP addresses or endpoint id,
  // in any letter case, through the API's criteria.
  const search = page.getByRole("searchbox", { name: "Search computers" });
  const searchFor = async (q, expected) => {
    await search.fill(q);
    const api = await apiRows(`&criteria=${encodeURIComponent(JSON.stringify({ or: [["name", "contains", q], ["dns_name", "contains", q], ["ip_address", "contains", q], ["endpoint_id", "contains", q]] }))}`);
    assert.deepEqual(shown(api), expected, `the API's answer to ${q}`);
    await waitInfo(page, expected.length ? `of ${expected.length} computer${expected.length === 1 ? "" : "s"} matching “${q}”` : `No computers matching “${q}”`);
    assert.deepEqual(await names(page), expected, `the page's answer to ${q}`);
  };
  await searchFor("WEB", ["web-01", "web-02"]);
  assert.match(page.url(), /[?&]q=WEB(&|$)/);
  await searchFor("198.51.100.2", ["db-01", "db-02"]);
  await searchFor("2001:DB8", ["web-01"]);
  await searchFor("3becbc28", ["web-01"]);
  await searchFor("example.test", shown(all).filter((n) => !["pi-lab", "ppc-prep-1"].includes(n)));
  await searchFor("no-such-computer", []);
  await page.getByRole("cell", { name: "No computers match “no-such-computer”." }).waitFor();
  // The search stays in the address: a reload shows the same list.
  await search.fill("db-0");
  await waitInfo(page, "1–2 of 2 computers matching “db-0”");
  await page.reload();
  await waitInfo(page, "1–2 of 2 computers matching “db-0”");
  assert.equal(await search.inputValue(), "db-0");
  await search.fill("");
  await waitInfo(page, "1–12 of 12 computers");
  assert.ok(!page.url().includes("q="), page.url());

  // Sorting by a column header: ascending, then descending, as the API orders.
  const coresHeader = page.getByRole("columnheader", { name: "Cores", exact: true });
  await coresHeader.getByRole("button").click();
  await page.locator("#computers th[aria-sort=ascending]", { hasText: "Cores" }).waitFor();
  const byCores = await apiRows("&order=cores");
  await page.waitForFunction((first) => document.querySelector("#computers tbody tr[data-id] td:nth-child(2)")?.textContent === first, shown(byCores)[0]);
  assert.deepEqual(await names(page), shown(byCores));
  assert.equal(byCores.rows[0].cores, null, "unknown cores sort first");
  await coresHeader.getByRole("button").click();
  await page.locator("#computers th[aria-sort=descending]", { hasText: "Cores" }).waitFor();
  const byCoresDesc = await apiRows("&order=-cores");
  await page.waitForFunction((first) => document.querySelector("#computers tbody tr[data-id] td:nth-child(2)")?.textContent === first, shown(byCoresDesc)[0]);
  assert.deepEqual(await names(page), shown(byCoresDesc));
  assert.equal(byCoresDesc.rows[0].name, "r720-01");
  assert.equal(await coresHeader.getAttribute("aria-sort"), "descending");
  // Another column: only it is marked.
  await page.getByRole("columnheader", { name: "Name", exact: true }).getByRole("button").click();
  await page.locator("#computers th[aria-sort=ascending]", { hasText: "Name" }).waitFor();
  assert.equal(await page.locator("#computers th[aria-sort]").count(), 1);
  const byName = await apiRows("&order=name");
  await page.waitForFunction((first) => document.querySelector("#computers tbody tr[data-id] td:nth-child(2)")?.textContent === first, shown(byName)[0]);
  assert.deepEqual(await names(page), shown(byName));
  assert.notDeepEqual(shown(byName), shown(all));

  // Paging, 10 rows a page, keeping the order.
  await page.getByLabel("Rows per page").selectOption("10");
  await waitInfo(page, "1–10 of 12 computers");
  assert.deepEqual(await names(page), shown(byName).slice(0, 10));
  const prev = page.getByRole("button", { name: "Previous" });
  const next = page.getByRole("button", { name: "Next" });
  assert.ok(await prev.isDisabled());
  await next.click();
  await waitInfo(page, "11–12 of 12 computers");
  assert.deepEqual(await names(page), shown(byName).slice(10));
  assert.ok(await next.isDisabled());
  assert.match(page.url(), /offset=10/);
  await prev.click();
  await waitInfo(page, "1–10 of 12 computers");
  // A search starts again at the first page.
  await next.click();
  await waitInfo(page, "11–12 of 12 computers");
  await search.fill("web");
  await waitInfo(page, "1–2 of 2 computers matching “web”");
  await search.fill("");
  await waitInfo(page, "1–10 of 12 computers");

  // A row expands to the computer's details (keyboard: Enter on the button).
  await search.fill("esx");
  await waitInfo(page, "1–1 of 1 computer matching “esx”");
  const expand = page.getByRole("button", { name: "Details of esx-legacy", exact: true });
  assert.equal(await expand.getAttribute("aria-expanded"), "false");
  await expand.focus();
  await page.keyboard.press("Enter");
  const details = page.getByRole("group", { name: "Details of esx-legacy" });
  await details.waitFor();
  assert.equal(await expand.getAttribute("aria-expanded"), "true");
  const dd = async (term) => (await details.locator("div", { has: page.locator("dt", { hasText: new RegExp(`^${term}$`) }) }).locator("dd").textContent()).trim();
  assert.equal(await dd("Endpoint id"), "esx-legacy");
  assert.equal(await dd("Cores"), "unknown");
  assert.equal(await dd("Threads"), "unknown");
  assert.equal(await dd("Hypervisor"), "VMware");
  assert.equal(await dd("Processor model"), "Pentium(R) III");
  // This user may not read raw data: the counts say why they are missing.
  assert.equal(await dd("Installed packages \\(latest scan\\)"), "not shown (needs the view_raw_data permission)");
  await page.screenshot({ path: path.join(SHOTS, "computers-auditor.png"), fullPage: true, animations: "disabled" });
  await page.keyboard.press("Enter");
  await details.waitFor({ state: "detached" });
  assert.equal(await expand.getAttribute("aria-expanded"), "false");

  // The permission taken away while the page is open: the API's message.
  const r = spawnSync(BIN, ["user", "permissions", "auditor", "--data-dir", dataDir], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  await page.waitForTimeout(1200); // the server sees the change within a second
  await search.fill("web");
  const alert = page.locator("#computers-error");
  await alert.filter({ hasText: "view_endpoints" }).waitFor();
  assert.equal(await alert.textContent(), "user `auditor` does not have the view_endpoints permission needed to list the computers");
  await context.close();
  assert.deepEqual(errors, []);
});

test("admin: details with raw-data counts, docs screenshot, phone layout", async () => {
  // A wide laptop screen: the whole table fits.
  const { context, page } = await newPage(browser, errors, { viewport: { width: 1480, height: 900 } });
  await login(page, base, "admin", ADMIN_PW);
  await page.waitForURL(`${base}/management/imports`);
  // From the Data Imports page through the navigation bar.
  await page.getByRole("navigation", { name: "Panel pages" }).getByRole("link", { name: "Computers" }).click();
  await page.waitForURL(`${base}/management/computers`);
  await waitInfo(page, "1–12 of 12 computers");
  await page.getByRole("columnheader", { name: "Last seen", exact: true }).getByRole("button").click();
  await page.locator("#computers th[aria-sort=ascending]", { hasText: "Last seen" }).waitFor();
  await page.getByRole("columnheader", { name: "Last seen", exact: true }).getByRole("button").click();
  await page.locator("#computers th[aria-sort=descending]", { hasText: "Last seen" }).waitFor();
  const byLast = await apiRows("&order=-last_seen");
  await page.waitForFunction((first) => document.querySelector("#computers tbody tr[data-id] td:nth-child(2)")?.textContent === first, shown(byLast)[0]);
  assert.deepEqual(await names(page), shown(byLast));
  const wrap = await page.evaluate(() => { const w = document.querySelector(".table-wrap"); return w.scrollWidth - w.clientWidth; });
  assert.ok(wrap <= 0, `the table is wider than its box by ${wrap}px at 1480px`);

  // web-01 carries the corpus host's dpkg status and SWID tags.
  const id = byLast.rows.find((r) => r.name === "web-01").id;
  const criteria = encodeURIComponent(JSON.stringify({ and: [["computer_id", "=", id]] }));
  const pkgs = await apiCall(base, token, `/api/sam/raw_package_facts?limit=0&criteria=${criteria}`);
  const tags = await apiCall(base, token, `/api/sam/raw_swid_tags?limit=0&criteria=${criteria}`);
  assert.ok(pkgs.total > 700 && tags.total > 700, `${pkgs.total} packages, ${tags.total} tags`);
  await page.getByRole("button", { name: "Details of web-01", exact: true }).click();
  const details = page.getByRole("group", { name: "Details of web-01" });
  await details.waitFor();
  const dd = async (term) => (await details.locator("div", { has: page.locator("dt", { hasText: term }) }).locator("dd").textContent()).trim();
  assert.equal(await dd("Installed packages"), pkgs.total.toLocaleString("en-US"));
  assert.equal(await dd("SWID tags"), tags.total.toLocaleString("en-US"));
  assert.equal(await dd("IP addresses"), "192.0.2.112001:db8::11");
  assert.equal(await details.locator("dd li").count(), 2);
  await page.evaluate(() => { window.scrollTo(0, 0); document.querySelector(".table-wrap").scrollLeft = 0; });
  await page.screenshot({ path: path.join(SHOTS, "computers.png"), fullPage: true, animations: "disabled" });

  // Phone-sized: the page does not scroll sideways (the table scrolls in its box).
  const phone = await newPage(browser, errors, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    storageState: await context.storageState() });
  await phone.page.goto(`${base}/management/computers`);
  await phone.page.locator("#computers-pager .page-info", { hasText: "of 12 computers" }).waitFor();
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page wider than a phone by ${overflow}px`);
  await phone.page.screenshot({ path: path.join(SHOTS, "computers-phone.png"), fullPage: true, animations: "disabled" });
  await phone.context.close();
  await context.close();
  assert.deepEqual(errors, []);
});

test("a user without view_endpoints: a clear message, no table", async () => {
  const { context, page } = await newPage(browser, errors);
  await login(page, base, "viewer", PW, "/management/computers");
  await page.waitForURL(`${base}/management/computers`);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /Your user viewer does not have the view_endpoints permission needed to list the computers\. An administrator can grant it with openlmt user permissions viewer --permission view_endpoints/);
  assert.equal(await page.locator("#computers").count(), 0);
  assert.equal(await page.getByRole("searchbox").count(), 0);
  // The navigation still leads to the pages this user can read.
  await page.getByRole("navigation", { name: "Panel pages" }).getByRole("link", { name: "Data Imports" }).waitFor();
  // And the API says the same.
  const status = await page.evaluate(() => fetch("/api/sam/v2/computers").then((r) => r.status));
  assert.equal(status, 403);
  await page.screenshot({ path: path.join(SHOTS, "computers-denied.png"), fullPage: true, animations: "disabled" });
  await context.close();
  assert.deepEqual(errors, []);
});
