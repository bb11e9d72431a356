// openlmt panel: the PVU Sub-capacity page (permission view_license_metrics).
// - Products: GET /api/sam/v2/license_usage for the chosen period (default
//   the 90 days ending today, UTC), the PVU_SUB_CAP (metric 4) and
//   PVU_FULL_CAP (metric 3) rows of each product side by side.
// - A product: its daily sub-capacity values (GET
//   /api/sam/v2/license_usage/daily) drawn as an inline SVG line chart, and
//   its servers on the peak day (GET /api/sam/v2/license_usage_per_server
//   with criteria on product_id and metric_id 4), each expanding to how
//   its value was reached (GET /api/sam/v2/license_usage/explain): cores,
//   the PVU rate and why, the cap, and every computer counted.
// - CSV: both tables, made here from the rows shown (no server round trip).
"use strict";

(function () {
  const { $, api, el, setContent, number } = window.openlmt;

  const SUB = 4;  // PVU_SUB_CAP
  const FULL = 3; // PVU_FULL_CAP
  const PAGE = 100000;
  const PERIOD_DAYS = 90; // as the API's default period
  const SVG = "http://www.w3.org/2000/svg";

  const SERVER_TYPES = { 0: "Physical", 1: "Virtual, counted on its own (TLM_VM)", 2: "Public cloud VM" };
  const ROLES = {
    physical_server_itself: "The server's own operating system",
    vm_on_host: "VM on this host",
    default_counted_vm: "VM counted on its own",
    public_cloud_vm: "Public cloud VM",
  };
  const VCPUS_FROM = { vm_manager: "VM manager", scan: "its own scan", physical_cores: "physical cores" };

  const text = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  const plural = (n, one, many) => `${number.format(n)} ${n === 1 ? one : many}`;
  const fmt = (n) => (n === null || n === undefined ? "—" : number.format(n));

  // ---- Dates (UTC days, as the server counts them) ----
  const isoDay = (d) => d.toISOString().slice(0, 10);
  const dayMs = 86400000;
  const parseDay = (s) => Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10));
  const validDay = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || "") && isoDay(new Date(parseDay(s))) === s;
  function defaultPeriod() {
    const end = new Date();
    return { start: isoDay(new Date(end.getTime() - (PERIOD_DAYS - 1) * dayMs)), end: isoDay(end) };
  }

  // ---- State ----
  let period = defaultPeriod();
  let products = [];   // [{ id, guid, publisher, name, release, sub, full }]
  let selected = null; // product id (number)
  let servers = [];    // the selected product's per-server rows on its peak day
  let explained = null; // Promise of the explain answer, by server id
  let loadSeq = 0;

  function readUrl() {
    const p = new URLSearchParams(location.search);
    const start = p.get("start"), end = p.get("end");
    if (validDay(start) && validDay(end) && start <= end) period = { start, end };
    const prod = Number(p.get("product"));
    if (Number.isInteger(prod) && prod > 0) selected = prod;
  }

  function writeUrl() {
    const p = new URLSearchParams();
    const dflt = defaultPeriod();
    if (period.start !== dflt.start || period.end !== dflt.end) { p.set("start", period.start); p.set("end", period.end); }
    if (selected !== null) p.set("product", String(selected));
    const qs = p.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  // ---- CSV ----
  // RFC 4180: every field quoted; text that a spreadsheet would run as a
  // formula (=, +, -, @ first) gets a leading apostrophe.
  function csvField(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return String(v);
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return `"${s.replace(/"/g, '""')}"`;
  }
  const csv = (header, rows) => [header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";

  function download(name, body) {
    const url = URL.createObjectURL(new Blob([body], { type: "text/csv;charset=utf-8" }));
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- Products ----
  async function pullUsage() {
    const rows = [];
    let offset = 0;
    for (;;) {
      const p = new URLSearchParams({ startdate: period.start, enddate: period.end, limit: String(PAGE), offset: String(offset) });
      const page = await api(`/api/sam/v2/license_usage?${p}`);
      for (const r of page.rows) rows.push(r);
      offset += page.rows.length;
      if (page.rows.length === 0 || offset >= page.total) return rows;
    }
  }

  function group(rows) {
    const by = new Map();
    for (const r of rows) {
      if (r.metric_id !== SUB && r.metric_id !== FULL) continue;
      let p = by.get(r.product_id);
      if (!p) {
        p = { id: r.product_id, guid: r.product_release_guid, publisher: r.product_publisher_name, name: r.product_name, release: r.product_release, sub: null, full: null };
        by.set(r.product_id, p);
      }
      if (r.metric_id === SUB) p.sub = r; else p.full = r;
    }
    const cmp = (a, b) => (a || "").localeCompare(b || "", undefined, { sensitivity: "base", numeric: true });
    return [...by.values()].sort((a, b) => cmp(a.publisher, b.publisher) || cmp(a.name, b.name) || cmp(a.release, b.release));
  }

  const title = (p) => (p.release ? `${p.name} ${p.release}` : p.name);

  function renderProducts() {
    const tbody = $("license-products").tBodies[0];
    const info = $("products-info");
    $("products-csv").disabled = products.length === 0;
    if (products.length === 0) {
      setContent(tbody, el("tr", {}, el("td", { colspan: "7", class: "empty",
        text: `No licence values yet between ${period.start} and ${period.end}: run a complete import (Data Imports) to compute them.` })));
      info.textContent = "";
      return;
    }
    setContent(tbody, ...products.map((p) => {
      const btn = el("button", { type: "button", class: "link product", "aria-controls": "product-card",
        "aria-current": p.id === selected ? "true" : null, title: "Show its servers and daily values" }, p.name);
      btn.addEventListener("click", () => select(p.id, true));
      return el("tr", { "data-id": String(p.id), class: p.id === selected ? "selected" : null },
        el("td", {}, text(p.publisher)),
        el("td", { class: "wrap" }, btn),
        el("td", {}, text(p.release)),
        el("td", { class: "num sub-peak" }, p.sub ? fmt(p.sub.hwm_quantity) : "—"),
        el("td", {}, p.sub ? p.sub.peak_date : "—"),
        el("td", { class: "num full-peak" }, p.full ? fmt(p.full.hwm_quantity) : "—"),
        el("td", {}, p.full ? p.full.peak_date : "—"));
    }));
    info.textContent = `${plural(products.length, "product", "products")} with PVU values from ${period.start} to ${period.end}`;
  }

  // Estate-wide: how many physical servers the last complete import counted
  // at the 120 default because the PVU table has no row for their processor.
  async function paintEstateDefault() {
    const notice = $("estate-default-notice");
    try {
      const t = await api("/api/pvu_table");
      const s = t.last_snapshot;
      const n = s && s.physical_servers_at_default_rate;
      if (!n) { notice.hidden = true; return; }
      notice.textContent = `${plural(n, "physical server", "physical servers")} of ${s.physical_servers} in the last complete import (${s.taken_at}, PVU table ${s.pvu_table_version}) ${n === 1 ? "is" : "are"} counted at ILMT's default of 120 PVU per core because the table has no row for ${n === 1 ? "its processor" : "their processors"}. ${t.advice}`;
      notice.hidden = false;
    } catch (e) {
      notice.hidden = true;
    }
  }

  async function loadProducts() {
    const seq = ++loadSeq;
    paintEstateDefault();
    const error = $("products-error");
    const tbody = $("license-products").tBodies[0];
    $("license-products").setAttribute("aria-busy", "true");
    let rows;
    try {
      rows = await pullUsage();
    } catch (e) {
      if (seq !== loadSeq) return;
      $("license-products").removeAttribute("aria-busy");
      error.textContent = e.status === 403 ? e.message : `Cannot load the licence values: ${e.message}`;
      error.hidden = false;
      products = [];
      $("products-csv").disabled = true;
      setContent(tbody, el("tr", {}, el("td", { colspan: "7", class: "empty error", text: `Cannot load the licence values: ${e.message}` })));
      return;
    }
    if (seq !== loadSeq) return;
    $("license-products").removeAttribute("aria-busy");
    error.hidden = true;
    products = group(rows);
    renderProducts();
    const p = products.find((x) => x.id === selected);
    if (p) select(p.id, false);
    else if (selected !== null) closeProduct();
  }

  function productsCsv() {
    const header = ["publisher", "product", "release", "product_id", "product_release_guid", "pvu_sub_capacity_peak",
      "sub_capacity_peak_date", "sub_capacity_cores", "pvu_full_capacity_peak", "full_capacity_peak_date", "period_start", "period_end"];
    const rows = products.map((p) => [p.publisher, p.name, p.release, p.id, p.guid,
      p.sub ? p.sub.hwm_quantity : null, p.sub ? p.sub.peak_date : null, p.sub ? p.sub.hwm_cores : null,
      p.full ? p.full.hwm_quantity : null, p.full ? p.full.peak_date : null, period.start, period.end]);
    download(`pvu-subcapacity-${period.start}-${period.end}.csv`, csv(header, rows));
  }

  // ---- The chart ----
  function svg(tag, attrs = {}, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // A line of the daily values over the whole period (x: days, y: PVU from
  // 0), one circle per day that has a value; days without a value (no
  // complete import that day) have no point.
  function drawChart(days, p) {
    const box = $("chart");
    const caption = $("chart-caption");
    if (days.length === 0) {
      setContent(box, el("p", { class: "muted empty-chart", text: "No daily values in this period." }));
      caption.textContent = "";
      return;
    }
    const W = 760, H = 240, L = 64, R = 16, T = 14, B = 34;
    const x0 = parseDay(period.start), x1 = parseDay(period.end);
    const max = Math.max(...days.map((d) => d.hwm_quantity), 1);
    const top = niceTop(max);
    const x = (day) => L + (x1 === x0 ? (W - L - R) / 2 : ((parseDay(day) - x0) / (x1 - x0)) * (W - L - R));
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const peak = p.sub ? p.sub.hwm_quantity : max;
    const s = svg("svg", { id: "chart-svg", viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg",
      "aria-label": `Daily PVU sub-capacity values of ${title(p)} from ${period.start} to ${period.end}: ${days.length} ${days.length === 1 ? "day" : "days"} with a value, peak ${number.format(peak)}` });
    // Grid and y labels: 0, half, top.
    for (const v of [0, top / 2, top]) {
      s.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      const t = svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" });
      t.textContent = number.format(v);
      s.append(t);
    }
    // x labels: the period's ends.
    for (const [day, anchor] of [[period.start, "start"], [period.end, "end"]]) {
      const t = svg("text", { x: x(day), y: H - 10, "text-anchor": anchor, class: "axis" });
      t.textContent = day;
      s.append(t);
    }
    s.append(svg("polyline", { class: "line", points: days.map((d) => `${x(d.date).toFixed(1)},${y(d.hwm_quantity).toFixed(1)}`).join(" ") }));
    for (const d of days) {
      const c = svg("circle", { class: d.hwm_quantity === peak ? "point peak" : "point", cx: x(d.date).toFixed(1), cy: y(d.hwm_quantity).toFixed(1), r: 4,
        "data-date": d.date, "data-value": d.hwm_quantity });
      const tip = svg("title");
      tip.textContent = `${d.date}: ${number.format(d.hwm_quantity)} PVU`;
      c.append(tip);
      s.append(c);
    }
    setContent(box, s);
    caption.textContent = `${plural(days.length, "day", "days")} with a value; the highest, ${number.format(peak)} PVU, is marked. Hover a point for its day and value.`;
  }

  // A round number at or above `v` for the y axis (1, 2 or 5 × 10^n).
  function niceTop(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // ---- The selected product ----
  function closeProduct() {
    selected = null;
    servers = [];
    $("product-card").hidden = true;
    writeUrl();
    renderProducts();
  }

  async function select(id, focus) {
    const p = products.find((x) => x.id === id);
    if (!p) return;
    selected = id;
    writeUrl();
    renderProducts();
    const card = $("product-card");
    card.hidden = false;
    $("product-title").textContent = title(p);
    const peakDay = p.sub ? p.sub.peak_date : null;
    $("product-sub").textContent = [p.publisher,
      p.sub ? `PVU sub-capacity peak ${number.format(p.sub.hwm_quantity)} on ${p.sub.peak_date}` : "no PVU sub-capacity value in the period",
      p.full ? `full capacity peak ${number.format(p.full.hwm_quantity)} on ${p.full.peak_date}` : null].filter(Boolean).join(" · ");
    $("servers-title").textContent = peakDay ? `Servers on the peak day, ${peakDay}` : "Servers";
    $("product-error").hidden = true;
    $("default-rate-notice").hidden = true;
    $("servers-csv").disabled = true;
    setContent($("chart"), el("p", { class: "muted", text: "Loading…" }));
    $("chart-caption").textContent = "";
    const tbody = $("license-servers").tBodies[0];
    setContent(tbody, el("tr", {}, el("td", { colspan: "10", class: "empty", text: peakDay ? "Loading…" : "No PVU sub-capacity value in the period." })));
    $("servers-info").textContent = "";
    if (focus) {
      $("product-title").focus();
      card.scrollIntoView({ block: "start" });
    }
    const seq = ++loadSeq;
    const fail = (what, e) => {
      if (seq !== loadSeq) return;
      const err = $("product-error");
      err.textContent = `Cannot load ${what}: ${e.message}`;
      err.hidden = false;
    };
    const daily = api(`/api/sam/v2/license_usage/daily?${new URLSearchParams({ product_id: String(id), metric_id: String(SUB), startdate: period.start, enddate: period.end })}`)
      .then((d) => { if (seq === loadSeq) drawChart(d.rows, p); })
      .catch((e) => { fail("the daily values", e); setContent($("chart"), el("p", { class: "muted", text: "—" })); });
    if (!peakDay) { await daily; return; }
    explained = api(`/api/sam/v2/license_usage/explain?${new URLSearchParams({ product_id: String(id), metric_id: String(SUB), date: peakDay })}`)
      .then((x) => new Map(x.servers.map((s) => [s.server.id, s])));
    explained.catch(() => {}); // reported when a server is expanded
    try {
      const criteria = JSON.stringify({ and: [["product_id", "=", id], ["metric_id", "=", SUB]] });
      const page = await api(`/api/sam/v2/license_usage_per_server?${new URLSearchParams({ date: peakDay, criteria, limit: String(PAGE), order: "-hwm_quantity" })}`);
      if (seq !== loadSeq) return;
      servers = page.rows;
      renderServers(p);
    } catch (e) {
      fail("the servers", e);
      setContent(tbody, el("tr", {}, el("td", { colspan: "10", class: "empty error", text: `Cannot load the servers: ${e.message}` })));
    }
    await daily;
    // The default-rate notice needs each server's rate basis.
    try {
      const by = await explained;
      if (seq === loadSeq) paintDefaultRate(by);
    } catch (_) { /* shown when a server is expanded */ }
  }

  function renderServers(p) {
    const tbody = $("license-servers").tBodies[0];
    $("servers-csv").disabled = servers.length === 0;
    if (servers.length === 0) {
      setContent(tbody, el("tr", {}, el("td", { colspan: "10", class: "empty", text: "No server has a value on this day." })));
      $("servers-info").textContent = "";
      return;
    }
    setContent(tbody, ...servers.map((r, i) => {
      const s = r.server;
      const detailId = `license-servers-detail-${i}`;
      const tr = el("tr", { "data-id": String(s.id) });
      const btn = el("button", { type: "button", class: "expand", "aria-expanded": "false", "aria-controls": detailId,
        "aria-label": `How ${s.name} was counted` }, el("span", { "aria-hidden": "true", text: "▸" }));
      btn.addEventListener("click", () => toggleServer(btn, tr, r, detailId));
      const hw = [s.hardware_vendor, s.hardware_model].filter((v) => v && v !== "-").join(" ");
      tr.append(
        el("td", { class: "toggle" }, btn),
        el("td", { class: "sticky" }, s.name),
        el("td", {}, SERVER_TYPES[s.type] || String(s.type)),
        el("td", { class: "wrap" }, hw || "—"),
        el("td", { class: "num" }, fmt(s.total_processors)),
        el("td", { class: "num" }, fmt(s.cores)),
        el("td", { class: "num rate" }, fmt(s.pvu_per_core)),
        el("td", { class: "num" }, fmt(s.active_computers)),
        el("td", { class: "num" }, fmt(r.hwm_cores)),
        el("td", { class: "num pvu" }, fmt(r.hwm_quantity)));
      return tr;
    }));
    const sum = servers.reduce((a, r) => a + r.hwm_quantity, 0);
    $("servers-info").textContent = `${plural(servers.length, "server", "servers")}, ${number.format(sum)} PVU in all` +
      (p.sub && sum !== p.sub.hwm_quantity ? ` (the product's value is ${number.format(p.sub.hwm_quantity)})` : "");
  }

  // Whether a rate is ILMT's 120 default because the PVU table has no row
  // for the processor.
  const noTableRow = (rate) => rate && rate.basis && rate.basis.basis === "default" && rate.basis.reason === "no_table_row";
  const rateOf = (x) => (x.server.basis && x.server.basis.rate) || (x.explanation && x.explanation.rate) || null;

  function paintDefaultRate(by) {
    const hit = [...by.values()].filter((x) => x.server.type === 0 && noTableRow(rateOf(x)));
    const notice = $("default-rate-notice");
    for (const x of hit) {
      const tr = $("license-servers").querySelector(`tbody tr[data-id="${x.server.id}"]`);
      if (tr) {
        const cell = tr.querySelector("td.rate");
        if (cell && !cell.querySelector(".flag")) cell.append(" ", el("span", { class: "flag warn", title: "ILMT's default rate: the PVU table has no row for this processor", text: "default" }));
      }
    }
    if (hit.length === 0) { notice.hidden = true; return; }
    const names = hit.map((x) => `${x.server.name} (${rateOf(x).basis.processor || "processor not named"})`).join(", ");
    notice.textContent = `${plural(hit.length, "physical server uses", "physical servers use")} the default rate of 120 PVU per core because the PVU table has no row for ${hit.length === 1 ? "its processor" : "their processors"}: ${names}. Import IBM's current PVU table (\`openlmt pvu-table import FILE --version V\`, or PUT /api/pvu_table) and run a complete import, or set a rate override (PUT /api/pvu_overrides).`;
    notice.hidden = false;
  }

  // Why a PVU rate is what it is, in words (the explain API's `basis`).
  function rateWhy(rate) {
    if (!rate || !rate.basis) return "not recorded";
    const b = rate.basis;
    switch (b.basis) {
      case "table_row": {
        let t = `PVU table ${b.table_version}, row “${b.row}”`;
        if (b.source) t += ` (${b.source})`;
        t += ` for ${b.processor}`;
        if (Array.isArray(b.sockets)) t += `; ${b.sockets[0]} sockets (${b.sockets[1] === "maximum" ? "the model's maximum" : "populated sockets"})`;
        if (b.notes && b.notes.length) t += `; ${b.notes.join("; ")}`;
        return t;
      }
      case "linux_on_power":
        return `IBM POWER running Linux${b.row ? `, PVU table row “${b.row}”` : " (built-in rule)"} for ${b.processor}`;
      case "public_cloud":
        return `VM on the public cloud ${b.provider}${b.row ? `, PVU table row “${b.row}”` : ""}`;
      case "override":
        return `operator override (the rules gave ${b.replaced ? b.replaced.pvu_per_core : "?"}: ${rateWhy(b.replaced)})`;
      case "default": {
        const why = {
          no_table_row: () => `the PVU table has no row for ${b.processor}` + (b.blocked_by && b.blocked_by.length ? ` (rows that need a fact not known: ${b.blocked_by.join(", ")})` : ""),
          processor_not_identified: () => `the processor could not be identified (${b.processor || "nothing read"})`,
          ambiguous_rows: () => `several rows of different rates match ${b.processor}: ${(b.rows || []).join(", ")}`,
          no_vm_manager_data: () => "a VM without VM-manager data (default counting, TLM_VM)",
        }[b.reason];
        return `default 120: ${why ? why() : b.reason}`;
      }
      default:
        return JSON.stringify(b);
    }
  }

  async function toggleServer(btn, tr, row, detailId) {
    if (btn.getAttribute("aria-expanded") === "true") {
      const d = document.getElementById(detailId);
      if (d) d.remove();
      btn.setAttribute("aria-expanded", "false");
      btn.firstChild.textContent = "▸";
      tr.classList.remove("expanded");
      return;
    }
    btn.setAttribute("aria-expanded", "true");
    btn.firstChild.textContent = "▾";
    tr.classList.add("expanded");
    const cell = el("td", { colspan: "10" }, el("p", { class: "muted", text: "Loading…" }));
    tr.after(el("tr", { id: detailId, class: "detail" }, cell));
    try {
      const x = (await explained).get(row.server.id);
      setContent(cell, x ? explanation(x) : el("p", { class: "muted", text: "No explanation for this server." }));
    } catch (e) {
      setContent(cell, el("p", { class: "msg error", text: `Cannot load the explanation: ${e.message}` }));
    }
  }

  function explanation(x) {
    const s = x.server, e = x.explanation || {};
    const rate = rateOf(x);
    const item = (term, ...value) => el("div", { class: term === "PVU per core" ? "wide-fact" : null }, el("dt", { text: term }), el("dd", {}, ...value));
    let cap;
    if (!e.capped) cap = "not capped (a VM counted on its own or a cloud VM counts its own vCPUs)";
    else if (e.cap_applied) cap = `applied: ${number.format(e.virtual_cores)} virtual cores capped at the ${number.format(e.physical_cores)} physical cores`;
    else cap = `not applied: ${number.format(e.virtual_cores)} virtual cores, within the ${number.format(e.physical_cores)} physical cores`;
    const members = e.members || [];
    return el("div", { class: "details", role: "group", "aria-label": `How ${s.name} was counted` },
      el("dl", { class: "facts detail-facts" },
        item("Server", `${s.name}${s.hardware_serial_number && s.hardware_serial_number !== s.name ? ` (serial ${s.hardware_serial_number})` : ""}`),
        item("Physical cores", fmt(e.physical_cores ?? s.cores)),
        item("PVU per core", el("span", { class: "stack" }, el("strong", { text: fmt(rate ? rate.pvu_per_core : s.pvu_per_core) }),
          el("small", { class: noTableRow(rate) ? "why default-rate" : "why", text: rateWhy(rate) }))),
        item("Cap at physical cores", cap),
        item("Cores counted", fmt(x.hwm_cores)),
        item("PVU", fmt(x.hwm_quantity)),
        e.comment ? item("Comment", el("span", { class: "comment", text: e.comment })) : null),
      el("h4", { text: `Computers counted (${members.length})` }),
      members.length === 0 ? el("p", { class: "muted", text: "None." }) :
        el("div", { class: "table-wrap" }, el("table", { class: "members" },
          el("thead", {}, el("tr", {}, ...["Computer", "Role", "vCPUs", "From", "Placed", "Why"].map((h, i) =>
            el("th", { scope: "col", class: i === 2 ? "num" : null, text: h })))),
          el("tbody", {}, ...members.map((m) => el("tr", { "data-computer": String(m.computer) },
            el("td", { class: "name", text: m.name }),
            el("td", { text: ROLES[m.role] || m.role }),
            el("td", { class: "num vcpus", text: fmt(m.vcpus) }),
            el("td", { text: VCPUS_FROM[m.vcpus_from] || text(m.vcpus_from) }),
            el("td", { text: m.placed_at ? m.placed_at.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "—" }),
            el("td", { class: "wrap why", text: m.why })))))));
  }

  function serversCsv() {
    const p = products.find((x) => x.id === selected);
    if (!p || !p.sub) return;
    const header = ["date", "product_id", "product", "server_id", "server_name", "server_type", "hardware_vendor", "hardware_model",
      "hardware_serial_number", "total_processors", "cores", "pvu_per_core", "active_computers", "hwm_cores", "hwm_quantity"];
    const rows = servers.map((r) => {
      const s = r.server;
      return [r.date || p.sub.peak_date, p.id, title(p), s.id, s.name, s.type, s.hardware_vendor, s.hardware_model,
        s.hardware_serial_number, s.total_processors, s.cores, s.pvu_per_core, s.active_computers, r.hwm_cores, r.hwm_quantity];
    });
    download(`pvu-subcapacity-${p.id}-servers-${p.sub.peak_date}.csv`, csv(header, rows));
  }

  function init() {
    if (!$("license-products")) return; // no view_license_metrics: the page says so instead
    readUrl();
    $("period-start").value = period.start;
    $("period-end").value = period.end;
    $("period").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const start = $("period-start").value, end = $("period-end").value;
      const error = $("products-error");
      if (!validDay(start) || !validDay(end) || start > end) {
        error.textContent = "Choose a start date on or before the end date.";
        error.hidden = false;
        return;
      }
      period = { start, end };
      writeUrl();
      loadProducts();
    });
    $("products-csv").addEventListener("click", productsCsv);
    $("servers-csv").addEventListener("click", serversCsv);
    $("product-close").addEventListener("click", () => {
      const id = selected;
      closeProduct();
      const btn = document.querySelector(`#license-products tr[data-id="${id}"] button.product`);
      if (btn) btn.focus();
    });
    loadProducts();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
