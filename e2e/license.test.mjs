// End-to-end test of the panel's PVU Sub-capacity page in headless
// Chromium, against the real server with licence values computed by a
// complete import of real scan packages, built as
// crates/cli/tests/license_api.rs builds them:
// - the KVM host: the corpus's HP DL180 (its cpuinfo and dmidecode: Xeon
//   E5504, in the PVU table's "5500-5699" row) with a nested
//   `0_vmman.tar.gz` whose VM-manager scan lists the two real KVM domains
//   of the corpus's `virsh dumpxml` captures (their UUIDs and vCPUs);
// - two guests (the corpus's Debian 12 VM, with bash) carrying their
//   domain's UUID as `product_uuid`, the first byte-swapped;
// - a VM whose UUID no VM manager reports (the corpus VMware guest's),
//   counted on its own (TLM_VM);
// - a bare-metal Dell R640 (the corpus's dmidecode: Xeon Gold, a processor
//   the PVU table has no row for) with the Debian 12 dpkg status, which
//   gets ILMT's default of 120 PVU per core: the page's default-rate notice;
// - the operator catalog's PVU product "ACME Server 7.1", found by the
//   dpkg package bash.
//
//   cd e2e && npm ci && node --test license.test.mjs
//
// Environment: as panel.test.mjs; E2E_COPY_DOCS=1 also copies the
// screenshot of the page to docs/img/panel-license.png.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, copyFileSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  root, SHOTS, CORPUS, startServer, stopServer, addUser, launchBrowser, newPage, login,
  getToken, apiCall, importAndWait, writeScanPackage,
} from "./common.mjs";

const ADMIN_PW = "admin-password-e2e";
const PW = "user-password-e2e";

const CATALOG = {
  catalog_version: "e2e-license-1",
  products: [{
    id: "acme-server-7", publisher: "ACME", name: "ACME Server", release: "7.1", metric: "PVU",
    components: [{ id: "acme-engine-7", name: "ACME Server Engine", release: "7.1", charged: true,
      signatures: [{ package: { source: "dpkg", name: "bash" } }] }],
  }],
};

const corpusText = (p) => readFileSync(path.join(CORPUS, p), "utf8");
const element = (t, name) => t.match(new RegExp(`<${name}[^>]*>([^<]*)</${name}>`))[1].trim();

// A UUID with its first three groups byte-swapped (as VMware and older
// dmidecode print the SMBIOS UUID).
function swapped(u) {
  const g = u.split("-");
  const rev = (s) => s.match(/../g).reverse().join("");
  return [rev(g[0]), rev(g[1]), rev(g[2]), g[3], g[4]].join("-");
}

const D1 = element(corpusText("virsh/dumpxml1"), "uuid");
const D2 = element(corpusText("virsh/dumpxml2"), "uuid");
const V1 = Number(element(corpusText("virsh/dumpxml1"), "vcpu"));
const V2 = Number(element(corpusText("virsh/dumpxml2"), "vcpu"));
const LONE = corpusText("dmidecode/rhel-6.2-vmware-2vcpus").split("\n").find((l) => l.trim().startsWith("UUID:")).split(":")[1].trim();

// The host's VM-manager scan (the XML of openlmt's `scan --virsh`), taken
// five minutes ago, in a nested tar.gz as `0_vmman.tar.gz`.
function vmmanArchive() {
  const observed = new Date(Date.now() - 5 * 60000);
  const guests = [[D1, V1], [D2, V2]].map(([u, v]) =>
    `    <guest_layer>\n      <uuid>${u}</uuid>\n      <vp_count>${v}</vp_count>\n    </guest_layer>\n`).join("");
  const xml = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<capacity_report>
  <id>1712345678123456789</id>
  <virtual_technology>KVM_X86</virtual_technology>
  <source>STDC</source>
  <protocol_version>1</protocol_version>
  <report_type>full</report_type>
  <timestamp>${observed.toISOString()}</timestamp>
  <login>N/A</login>
  <password></password>
  <shared_credentials>false</shared_credentials>
  <status>OK</status>
  <url>N/A</url>
  <host_layer>
    <uuid>00000000-0000-0000-0000-000000000000</uuid>
    <name>dl180</name>
${guests}  </host_layer>
</capacity_report>
`;
  const work = mkdtempSync(path.join(tmpdir(), "openlmt-vmman-"));
  const name = `vmman_scan_1712345678123456789_${Math.floor(observed.getTime() / 1000)}.xml`;
  writeFileSync(path.join(work, name), xml);
  const out = path.join(work, "0_vmman.tar.gz");
  const r = spawnSync("tar", ["-czf", out, "-C", work, name], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const bytes = readFileSync(out);
  rmSync(work, { recursive: true, force: true });
  return bytes;
}

const DEBIAN = { cpuinfo: "hosts/debian12-vm/cpuinfo", "lscpu.json": "hosts/debian12-vm/lscpu.json", "dpkg-status": "hosts/debian12-vm/dpkg-status" };
const guest = (endpoint) => ({ endpoint, name: endpoint, dns: `${endpoint}.example.test`, os: "Debian GNU/Linux 12 (bookworm)" });

let server, base, tmp, browser, token, dataDir;
const errors = [];
const today = new Date().toISOString().slice(0, 10);
const start90 = new Date(Date.now() - 89 * 86400000).toISOString().slice(0, 10);
const fmt = (n) => new Intl.NumberFormat("en-US").format(n);
const enc = (v) => encodeURIComponent(JSON.stringify(v));

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  tmp = mkdtempSync(path.join(tmpdir(), "openlmt-e2e-license-"));
  dataDir = path.join(tmp, "data");
  const ds = path.join(dataDir, "datasource");
  writeScanPackage(ds, "202612011200", { endpoint: "dl180", name: "dl180", dns: "dl180.example.test", os: "Debian GNU/Linux 12 (bookworm)" },
    { cpuinfo: "cpuinfo/linux-hp-dl180", "dmidecode.txt": "dmidecode/hp-dl180" }, { "0_vmman.tar.gz": vmmanArchive() });
  writeScanPackage(ds, "202612011200", guest("guest1"), DEBIAN, { product_uuid: `${swapped(D1)}\n` });
  writeScanPackage(ds, "202612011200", guest("guest2"), DEBIAN, { product_uuid: `${D2}\n` });
  writeScanPackage(ds, "202612011200", guest("lonevm"), DEBIAN, { product_uuid: `${LONE}\n` });
  writeScanPackage(ds, "202612011200", { endpoint: "r640", name: "r640", dns: "r640.example.test", os: "Debian GNU/Linux 12 (bookworm)" },
    { "dmidecode.txt": "dmidecode/dell-r640", "dpkg-status": DEBIAN["dpkg-status"] });
  ({ child: server, base } = await startServer(dataDir, { OPENLMT_ADMIN_PASSWORD: ADMIN_PW }));
  addUser(dataDir, "viewer", PW, ["view_software"]);
  token = await getToken(base, "admin", ADMIN_PW);
  const r = await fetch(`${base}/api/catalog`, { method: "PUT", headers: { Token: token, "Content-Type": "application/json" }, body: JSON.stringify(CATALOG) });
  assert.equal(r.status, 200, await r.text());
  const imp = await importAndWait(base, token);
  assert.equal(imp.status, "successful", JSON.stringify(imp));
  assert.equal(imp.packages.imported, 5, JSON.stringify(imp));
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (process.env.E2E_COPY_DOCS === "1") {
    copyFileSync(path.join(SHOTS, "license.png"), path.join(root, "docs/img/panel-license.png"));
  }
});

// Parses the page's CSV (every text field quoted, numbers bare).
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false, i = 0;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"') { quoted = true; i++; continue; }
    if (c === ",") { row.push(field); field = ""; i++; continue; }
    if (c === "\r" && text[i + 1] === "\n") { row.push(field); rows.push(row); row = []; field = ""; i += 2; continue; }
    field += c; i++;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  const [header, ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, k) => [h, r[k]])));
}

async function downloadCsv(page, button) {
  const [dl] = await Promise.all([page.waitForEvent("download"), button.click()]);
  return { name: dl.suggestedFilename(), rows: parseCsv(readFileSync(await dl.path(), "utf8")) };
}

const cells = async (row) => (await row.locator(":scope > td").allTextContents()).map((t) => t.trim());

test("a user with view_license_metrics: products, a product's servers and why, chart, CSV", async () => {
  // What the API says, to compare the page with.
  const usage = (await apiCall(base, token, `/api/sam/v2/license_usage?startdate=${start90}&enddate=${today}`)).rows;
  const sub = usage.find((r) => r.metric_id === 4 && r.product_release_guid === "acme-server-7");
  const full = usage.find((r) => r.metric_id === 3 && r.product_release_guid === "acme-server-7");
  assert.ok(sub && full, JSON.stringify(usage));
  assert.equal(sub.peak_date, today);
  const per = (await apiCall(base, token, `/api/sam/v2/license_usage_per_server?date=${today}&criteria=${enc({ and: [["product_id", "=", sub.product_id], ["metric_id", "=", 4]] })}`)).rows;
  assert.equal(per.length, 3, JSON.stringify(per));
  const host = per.find((r) => r.server.name === "dl180");
  const tlm = per.find((r) => r.server.type === 1);
  const r640 = per.find((r) => r.server.name === "r640");
  assert.equal(r640.server.type, 0);
  assert.equal(r640.server.pvu_per_core, 120);
  const daily = await apiCall(base, token, `/api/sam/v2/license_usage/daily?product_id=${sub.product_id}&metric_id=4&startdate=${start90}&enddate=${today}`);
  assert.deepEqual(daily.rows, [{ date: today, hwm_quantity: sub.hwm_quantity }]);

  const { context, page } = await newPage(browser, errors, { viewport: { width: 1480, height: 900 } });
  await login(page, base, "admin", ADMIN_PW, "/management/license");
  await page.waitForURL(`${base}/management/license`);
  await page.getByRole("heading", { name: "PVU Sub-capacity", level: 1 }).waitFor();
  const nav = page.getByRole("navigation", { name: "Panel pages" });
  assert.equal(await nav.getByRole("link", { name: "PVU Sub-capacity" }).getAttribute("aria-current"), "page");

  // The period: the last 90 days by default.
  assert.equal(await page.getByLabel("From", { exact: true }).inputValue(), start90);
  assert.equal(await page.getByLabel("to", { exact: true }).inputValue(), today);

  // The products table: the sub-capacity peak as the API has it, full capacity beside it.
  await page.locator("#products-info", { hasText: "1 product with PVU values" }).waitFor();
  const headers = (await page.locator("#license-products thead th").allTextContents()).map((t) => t.trim());
  assert.deepEqual(headers, ["Publisher", "Product", "Release", "PVU sub-capacity peak", "Peak date", "Full capacity peak", "Full capacity peak date"]);
  const row = page.locator(`#license-products tbody tr[data-id="${sub.product_id}"]`);
  assert.deepEqual(await cells(row), ["ACME", "ACME Server", "7.1", fmt(sub.hwm_quantity), today, fmt(full.hwm_quantity), today]);

  // Products CSV.
  const pcsv = await downloadCsv(page, page.locator("#products-csv"));
  assert.equal(pcsv.name, `pvu-subcapacity-${start90}-${today}.csv`);
  assert.equal(pcsv.rows.length, 1);
  assert.equal(pcsv.rows[0].product, "ACME Server");
  assert.equal(pcsv.rows[0].pvu_sub_capacity_peak, String(sub.hwm_quantity));
  assert.equal(pcsv.rows[0].sub_capacity_peak_date, today);
  assert.equal(pcsv.rows[0].pvu_full_capacity_peak, String(full.hwm_quantity));

  // Drill-down: the product's servers on the peak day.
  await page.getByRole("button", { name: "ACME Server", exact: true }).click();
  await page.getByRole("heading", { name: "ACME Server 7.1", level: 2 }).waitFor();
  assert.match(page.url(), new RegExp(`[?&]product=${sub.product_id}`));
  await page.locator("#servers-info", { hasText: "3 servers" }).waitFor();
  assert.equal(await page.locator("#servers-title").textContent(), `Servers on the peak day, ${today}`);
  const hostRow = page.locator(`#license-servers tbody tr[data-id="${host.server.id}"]`);
  const hc = await cells(hostRow);
  assert.equal(hc[1], "dl180");
  assert.equal(hc[2], "Physical");
  assert.equal(hc[5], fmt(host.server.cores));
  assert.equal(hc[6], "70");
  assert.equal(hc[8], fmt(host.hwm_cores));
  assert.equal(hc[9], fmt(host.hwm_quantity));
  const tlmRow = page.locator(`#license-servers tbody tr[data-id="${tlm.server.id}"]`);
  assert.match((await cells(tlmRow))[1], /^TLM_VM_/);
  assert.equal((await cells(tlmRow))[6], "120");
  assert.equal(host.hwm_quantity + tlm.hwm_quantity + r640.hwm_quantity, sub.hwm_quantity);
  // The R640's processor is not in the PVU table: the notice names it (the
  // DL180's is, and the TLM_VM's 120 is the rule, not a gap of the table).
  // The estate's count, from GET /api/pvu_table, with how to import a table.
  const estate = page.locator("#estate-default-notice");
  await estate.waitFor();
  assert.match(await estate.textContent(), /^1 physical server of \d+ in the last complete import .* is counted at ILMT's default of 120 PVU per core because the table has no row for its processor\. .*pvu-table import/);
  const notice = page.locator("#default-rate-notice");
  await notice.waitFor();
  assert.match(await notice.textContent(), /^1 physical server uses the default rate of 120 PVU per core because the PVU table has no row for its processor: r640 \(.*Xeon.*\)\./);
  assert.doesNotMatch(await notice.textContent(), /dl180|TLM_VM/);
  const r640Row = page.locator(`#license-servers tbody tr[data-id="${r640.server.id}"]`);
  assert.equal((await cells(r640Row))[6], "120 default");
  assert.equal((await cells(hostRow))[6], "70");
  await page.getByRole("button", { name: "How r640 was counted" }).click();
  const r640Detail = page.getByRole("group", { name: "How r640 was counted" });
  assert.match(await r640Detail.locator("div", { has: page.locator("dt", { hasText: /^PVU per core$/ }) }).locator("dd").textContent(), /^120default 120: the PVU table has no row for .*Xeon/);
  assert.equal(await r640Detail.locator("table.members tbody tr").count(), 1);
  await page.getByRole("button", { name: "How r640 was counted" }).click();

  // The host, expanded: cores, rate and why, the cap, the VMs with their vCPUs.
  await page.getByRole("button", { name: "How dl180 was counted" }).click();
  const hostDetail = page.getByRole("group", { name: "How dl180 was counted" });
  await hostDetail.waitFor();
  const dd = async (d, term) => (await d.locator("div", { has: page.locator("dt", { hasText: new RegExp(`^${term}$`) }) }).locator("dd").textContent()).trim();
  assert.equal(await dd(hostDetail, "Physical cores"), fmt(host.server.cores));
  assert.match(await dd(hostDetail, "PVU per core"), /^70PVU table .*5500-5699/);
  const capText = await dd(hostDetail, "Cap at physical cores");
  assert.match(capText, V1 + V2 > host.server.cores ? /^applied: / : /^not applied: /);
  const members = hostDetail.locator("table.members tbody tr");
  assert.equal(await members.count(), 2);
  const byName = {};
  for (const tr of await members.all()) {
    const c = await cells(tr);
    byName[c[0]] = c;
  }
  assert.deepEqual(Object.keys(byName).sort(), ["guest1", "guest2"]);
  assert.equal(byName.guest1[1], "VM on this host");
  assert.equal(byName.guest1[2], String(V1));
  assert.equal(byName.guest2[2], String(V2));
  assert.equal(byName.guest1[3], "VM manager");
  assert.match(byName.guest1[5], /byte-swapped UUID/);
  assert.match(byName.guest2[5], /same byte order/);

  // The VM counted on its own: its comment and why.
  await page.getByRole("button", { name: `How ${tlm.server.name} was counted` }).click();
  const tlmDetail = page.getByRole("group", { name: `How ${tlm.server.name} was counted` });
  await tlmDetail.waitFor();
  assert.equal(await dd(tlmDetail, "Comment"), "Incomplete virtualization hierarchy");
  assert.match(await dd(tlmDetail, "PVU per core"), /^120default 120: a VM without VM-manager data/);
  assert.match(await dd(tlmDetail, "Cap at physical cores"), /^not capped/);
  const lone = await cells(tlmDetail.locator("table.members tbody tr"));
  assert.equal(lone[0], "lonevm");
  assert.equal(lone[1], "VM counted on its own");
  assert.match(lone[5], /no VM-manager data for this VM/);

  // The chart: one point per day with a value, at the API's values.
  const points = page.locator("#chart-svg circle.point");
  assert.equal(await points.count(), daily.rows.length);
  assert.equal(await points.first().getAttribute("data-date"), today);
  assert.equal(await points.first().getAttribute("data-value"), String(sub.hwm_quantity));
  assert.match(await page.locator("#chart-svg").getAttribute("aria-label"), new RegExp(`peak ${fmt(sub.hwm_quantity)}`));

  // Servers CSV.
  const scsv = await downloadCsv(page, page.locator("#servers-csv"));
  assert.equal(scsv.name, `pvu-subcapacity-${sub.product_id}-servers-${today}.csv`);
  assert.equal(scsv.rows.length, 3);
  const hostCsv = scsv.rows.find((r) => r.server_name === "dl180");
  assert.equal(hostCsv.hwm_quantity, String(host.hwm_quantity));
  assert.equal(hostCsv.pvu_per_core, "70");
  assert.equal(hostCsv.date, today);

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, "license.png"), fullPage: true, animations: "disabled" });

  // The drill-down is kept in the address: a reload opens it again.
  await page.reload();
  await page.locator("#servers-info", { hasText: "3 servers" }).waitFor();

  // A period without values: the empty state; a reversed one: an error.
  await page.getByLabel("From", { exact: true }).fill("2020-01-01");
  await page.getByLabel("to", { exact: true }).fill("2020-01-31");
  await page.getByRole("button", { name: "Show" }).click();
  await page.getByRole("cell", { name: /^No licence values yet between 2020-01-01 and 2020-01-31: run a complete import/ }).waitFor();
  assert.equal(await page.locator("#product-card").isHidden(), true);
  assert.match(page.url(), /start=2020-01-01&end=2020-01-31/);
  assert.equal(await page.locator("#products-csv").isDisabled(), true);
  await page.getByLabel("From", { exact: true }).fill("2020-02-01");
  await page.getByRole("button", { name: "Show" }).click();
  await page.locator("#products-error", { hasText: "Choose a start date on or before the end date." }).waitFor();

  // Phone-sized, with a product open: the page does not scroll sideways.
  await page.goto(`${base}/management/license?product=${sub.product_id}`);
  await page.locator("#servers-info", { hasText: "3 servers" }).waitFor();
  await page.getByRole("button", { name: "How dl180 was counted" }).click();
  await page.getByRole("group", { name: "How dl180 was counted" }).waitFor();
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `page wider than a phone by ${overflow}px`);
  await page.screenshot({ path: path.join(SHOTS, "license-phone.png"), fullPage: true, animations: "disabled" });
  await context.close();
  assert.deepEqual(errors, []);
});

test("the daily endpoint: bad input is a 400 with a JSON error", async () => {
  for (const q of ["metric_id=4", "product_id=1", "product_id=1&metric_id=99", "product_id=1&metric_id=4&startdate=2026-13-01",
    "product_id=1&metric_id=4&startdate=2026-12-02&enddate=2026-12-01", "product_id=1&metric_id=4&startdate=2000-01-01&enddate=2026-12-01"]) {
    const r = await fetch(`${base}/api/sam/v2/license_usage/daily?${q}`, { headers: { Token: token } });
    assert.equal(r.status, 400, q);
    assert.equal(typeof (await r.json()).error, "string", q);
  }
});

test("a user without view_license_metrics: no link, a clear message, no report", async () => {
  const { context, page } = await newPage(browser, errors);
  await login(page, base, "viewer", PW, "/management/software");
  await page.waitForURL(`${base}/management/software`);
  const nav = page.getByRole("navigation", { name: "Panel pages" });
  await nav.getByRole("link", { name: "Software" }).waitFor();
  assert.equal(await nav.getByRole("link", { name: "PVU Sub-capacity" }).count(), 0);
  await page.goto(`${base}/management/license`);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /Your user viewer does not have the view_license_metrics permission needed to read the licence metrics\. An administrator can grant it with openlmt user permissions viewer --permission view_license_metrics/);
  assert.equal(await page.locator("#license-products").count(), 0);
  for (const p of ["/api/sam/v2/license_usage", "/api/sam/v2/license_usage/daily?product_id=1&metric_id=4"]) {
    const status = await page.evaluate((u) => fetch(u).then((r) => r.status), p);
    assert.equal(status, 403, p);
  }
  await context.close();
  assert.deepEqual(errors, []);
});
