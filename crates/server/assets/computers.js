// openlmt panel: the Computers page, the hardware inventory from
// GET /api/sam/v2/computers (permission view_endpoints), on the shared
// ListView of panel.js: searchable (name, DNS name, IP addresses, endpoint
// id), sortable by the column headers, paged, and each row expanding to
// all of the computer's fields and its raw-data counts.
"use strict";

(function () {
  const { $, api, el, timeEl, unknown, orUnknown, number, ListView } = window.openlmt;

  const FIELDS = ["id", "endpoint_id", "name", "dns_name", "ip_address", "os", "processor_vendor",
    "processor_brand", "processor_model", "sockets", "cores", "threads", "is_virtual", "hypervisor",
    "data_source", "first_seen", "last_seen", "is_deleted", "deleted_at"];

  const SHOWN_IPS = 2;

  function text(v) { return v === null || v === undefined || v === "" ? "—" : String(v); }

  function nameCell(c) {
    if (c.name) return c.name;
    // No Computer Name in the scan: its endpoint id names it.
    return el("span", { class: "muted", title: "The scan did not give a computer name; this is its endpoint id" }, c.endpoint_id);
  }

  // A DNS name that may break after its dots when the table is short of room.
  function dnsCell(c) {
    if (!c.dns_name) return "—";
    const parts = c.dns_name.split(".");
    const span = el("span", { class: "dns" });
    // Each label stays whole (no break at its hyphens).
    parts.forEach((p, i) => {
      const last = i === parts.length - 1;
      span.append(el("span", { text: last ? p : p + "." }));
      if (!last) span.append(el("wbr"));
    });
    return span;
  }

  function ipCell(c) {
    const ips = c.ip_address || [];
    if (ips.length === 0) return "—";
    // One address a line; a long list ends with how many more the details show.
    const more = ips.length - SHOWN_IPS;
    return el("span", { class: "stack", title: more > 0 ? ips.join(", ") : null },
      ...ips.slice(0, SHOWN_IPS).map((ip) => el("span", { text: ip })),
      more > 0 ? el("small", { class: "muted", text: `+${more} more` }) : null);
  }

  function processorCell(c) {
    const brand = c.processor_brand || c.processor_model;
    if (!brand && !c.processor_vendor) return unknown();
    const sub = [c.processor_vendor, c.processor_model && c.processor_model !== brand ? c.processor_model : null]
      .filter(Boolean).join(" · ");
    return el("span", { class: "stack" }, brand || c.processor_vendor, sub && brand ? el("small", { class: "muted", text: sub }) : null);
  }

  function virtualText(c) {
    if (c.is_virtual === null || c.is_virtual === undefined) return null;
    if (!c.is_virtual) return "Physical";
    return c.hypervisor ? `Virtual (${c.hypervisor})` : "Virtual";
  }

  function virtualCell(c) {
    const t = virtualText(c);
    return t === null ? unknown() : t;
  }

  // The table's cell: the hypervisor under "Virtual", to keep it narrow.
  function virtualStack(c) {
    if (c.is_virtual && c.hypervisor) return el("span", { class: "stack" }, "Virtual", el("small", { class: "muted", text: c.hypervisor }));
    return virtualCell(c);
  }

  function deletedCell(c) {
    if (!c.is_deleted) return "No";
    return el("span", { class: "status-failed stack" }, "Deleted", c.deleted_at ? el("small", {}, timeEl(c.deleted_at, { day: true })) : null);
  }

  function label(c) { return c.name || c.endpoint_id; }

  // The search box: any part of the name, DNS name, IP addresses or
  // endpoint id, in any letter case (the API's `contains`).
  function search(q) {
    return { or: ["name", "dns_name", "ip_address", "endpoint_id"].map((f) => [f, "contains", q]) };
  }

  // A count of the computer's raw facts, or why it cannot be shown.
  async function rawCount(path, id) {
    const criteria = JSON.stringify({ and: [["computer_id", "=", id]] });
    try {
      const page = await api(`${path}?limit=0&criteria=${encodeURIComponent(criteria)}`);
      return number.format(page.total);
    } catch (e) {
      if (e.status === 403) return el("span", { class: "muted", text: "not shown (needs the view_raw_data permission)" });
      throw e;
    }
  }

  async function details(c) {
    const [packages, tags] = await Promise.all([
      rawCount("/api/sam/raw_package_facts", c.id),
      rawCount("/api/sam/raw_swid_tags", c.id),
    ]);
    const item = (term, ...value) => el("div", {}, el("dt", { text: term }), el("dd", {}, ...value));
    const ips = c.ip_address || [];
    return el("div", { class: "details", role: "group", "aria-label": `Details of ${label(c)}` },
      el("dl", { class: "facts detail-facts" },
        item("Computer id", String(c.id)),
        item("Endpoint id", el("code", { text: c.endpoint_id })),
        item("Computer name", text(c.name)),
        item("DNS name", text(c.dns_name)),
        item("IP addresses", ips.length ? el("ul", { class: "plain" }, ...ips.map((ip) => el("li", { text: ip }))) : "—"),
        item("Operating system", text(c.os)),
        item("Processor vendor", orUnknown(c.processor_vendor)),
        item("Processor brand", orUnknown(c.processor_brand)),
        item("Processor model", orUnknown(c.processor_model)),
        item("Sockets", orUnknown(c.sockets)),
        item("Cores", orUnknown(c.cores)),
        item("Threads", orUnknown(c.threads)),
        item("Virtual", virtualCell(c)),
        item("Hypervisor", c.is_virtual ? orUnknown(c.hypervisor) : "—"),
        item("Data source", text(c.data_source)),
        item("First seen", timeEl(c.first_seen)),
        item("Last seen", timeEl(c.last_seen)),
        item("Deleted", c.is_deleted ? el("span", {}, "Yes, ", timeEl(c.deleted_at)) : "No"),
        item("Installed packages (latest scan)", packages),
        item("SWID tags (latest scan)", tags)));
  }

  function init() {
    const table = $("computers");
    if (!table) return; // no view_endpoints: the page says so instead
    const error = $("computers-error");
    const view = new ListView({
      endpoint: "/api/sam/v2/computers",
      noun: ["computer", "computers"],
      table,
      pager: $("computers-pager"),
      fetch: FIELDS,
      columns: [
        { key: "name", label: "Name", sort: "name", cls: "sticky", render: nameCell },
        { key: "dns_name", label: "DNS name", sort: "dns_name", cls: "wrap dns", render: dnsCell },
        { key: "ip_address", label: "IP addresses", render: ipCell },
        { key: "os", label: "Operating system", sort: "os", cls: "wrap os" },
        { key: "processor", label: "Processor", sort: "processor_brand", cls: "wrap processor", render: processorCell },
        { key: "sockets", label: "Sockets", sort: "sockets", num: true, render: (c) => orUnknown(c.sockets) },
        { key: "cores", label: "Cores", sort: "cores", num: true, render: (c) => orUnknown(c.cores) },
        { key: "threads", label: "Threads", sort: "threads", num: true, render: (c) => orUnknown(c.threads) },
        { key: "virtual", label: "Virtual", sort: "is_virtual", render: virtualStack },
        { key: "data_source", label: "Data source", sort: "data_source" },
        { key: "first_seen", label: "First seen", sort: "first_seen", cls: "seen", render: (c) => timeEl(c.first_seen, { day: true }) },
        { key: "last_seen", label: "Last seen", sort: "last_seen", cls: "seen", render: (c) => timeEl(c.last_seen, { day: true }) },
        { key: "deleted", label: "Deleted", sort: "is_deleted", render: deletedCell },
      ],
      search,
      searchInput: $("computers-q"),
      searchForm: $("computers-search"),
      details,
      rowLabel: label,
      pageSize: 25,
      urlState: true,
      onLoad: () => { error.hidden = true; },
      onError: (e) => {
        // 403: the permission was taken away since the page was loaded.
        error.textContent = e.status === 403 ? e.message : `Cannot load the computers: ${e.message}`;
        error.hidden = false;
      },
    });
    view.load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
