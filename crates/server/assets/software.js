// openlmt panel: the Software page. The products are aggregated here from
// a paged pull of the present software instances
// (GET /api/sam/v2/software_instances, a few columns, pages of 100,000);
// a product's instances are a ListView over the same endpoint filtered to
// that product (or, for a component with no product, to that component).
// Users with manage_software_classification (the server leaves the
// classification dialog out of the page for everyone else) confirm,
// reassign, exclude/include and suppress/unsuppress instances through
// PUT /api/sam/v2/software_instances and see the API's summary.
"use strict";

(function () {
  const { $, api, el, setContent, timeEl, number, ListView } = window.openlmt;

  const ENDPOINT = "/api/sam/v2/software_instances";
  const PAGE = 100000; // the API's largest page
  // What the product list needs of each present instance.
  const PRODUCT_FIELDS = ["computer_id", "product_release_guid", "product_publisher_name", "product_name",
    "product_release", "metric_id", "discoverable_guid", "component_name", "is_confirmed"];
  const INSTANCE_FIELDS = ["instance_id", "computer_id", "computer_name", "computer_dns_name", "component_name",
    "component_release", "component_detailed_version", "discoverable_guid", "product_release_guid",
    "product_publisher_name", "product_name", "product_release", "metric_id", "is_charged", "discovery_path",
    "discovery_start", "discovery_end", "is_present", "is_confirmed", "is_excluded", "is_suppressed",
    "exclusion_or_suppress_comment", "signature_kind", "evidence_source", "evidence_name", "evidence_version",
    "bundling_evidence.bundling_rule", "bundling_evidence.bundling_rule_name", "bundling_evidence.details"];
  const KINDS = {
    swid_persistent_id: "SWID persistentId",
    swid_tag_id: "SWID tagId",
    swid_tag_id_prefix: "SWID tagId prefix",
    swid_name: "SWID name",
    package_exact: "Package name",
    package_regex: "Package name pattern",
  };
  const PRESENT = ["is_present", "=", true];

  const text = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  const plural = (n, one, many) => `${number.format(n)} ${n === 1 ? one : many}`;
  const lower = (s) => (s || "").toLowerCase();

  // ---- Products ----

  let products = [];      // aggregated, sorted
  let selected = null;    // { kind: "product"|"component", guid }
  let instances = null;   // the ListView of the selected product's instances
  const dialog = $("classify-dialog"); // null: the user may not classify
  let optionCount = new Map(); // component guid -> its bundling options (products)

  async function pullPresent() {
    const rows = [];
    let offset = 0;
    for (;;) {
      const p = new URLSearchParams();
      for (const c of PRODUCT_FIELDS) p.append("columns[]", c);
      p.set("criteria", JSON.stringify({ and: [PRESENT] }));
      p.set("limit", String(PAGE));
      p.set("offset", String(offset));
      const page = await api(`${ENDPOINT}?${p}`);
      for (const r of page.rows) rows.push(r);
      offset += page.rows.length;
      if (page.rows.length === 0 || offset >= page.total) return rows;
    }
  }

  function aggregate(rows) {
    const by = new Map();
    for (const r of rows) {
      const none = r.product_release_guid === null;
      const key = none ? `c:${r.discoverable_guid}` : `p:${r.product_release_guid}`;
      let p = by.get(key);
      if (!p) {
        p = none
          ? { kind: "component", guid: r.discoverable_guid, publisher: null, name: r.component_name, release: null, metric: null }
          : { kind: "product", guid: r.product_release_guid, publisher: r.product_publisher_name, name: r.product_name, release: r.product_release, metric: r.metric_id };
        p.computers = new Set(); p.unconfirmed = 0; p.instances = 0; p.components = new Set();
        by.set(key, p);
      }
      p.computers.add(r.computer_id);
      p.instances += 1;
      if (!r.is_confirmed) p.unconfirmed += 1;
      if (r.component_name) p.components.add(r.component_name);
    }
    const cmp = (a, b) => a.localeCompare(b, undefined, { sensitivity: "base", numeric: true });
    return [...by.values()].sort((a, b) =>
      (a.kind === b.kind ? 0 : a.kind === "product" ? -1 : 1)
      || cmp(a.publisher || "", b.publisher || "") || cmp(a.name || "", b.name || "") || cmp(a.release || "", b.release || ""));
  }

  function matches(p, q) {
    if (!q) return true;
    const hay = [p.publisher, p.name, p.release, p.metric, p.kind === "component" ? "no product" : null, ...p.components];
    return hay.some((v) => lower(v).includes(lower(q)));
  }

  const isSelected = (p) => selected && selected.kind === p.kind && selected.guid === p.guid;
  const titleOf = (p) => (p.release ? `${p.name} ${p.release}` : p.name);

  function renderProducts() {
    const tbody = $("products").tBodies[0];
    const q = $("products-q").value.trim();
    const shown = products.filter((p) => matches(p, q));
    const info = $("products-info");
    const filtered = q ? ` matching “${q}”` : "";
    if (shown.length === 0) {
      setContent(tbody, el("tr", {}, el("td", { colspan: "6", class: "empty",
        text: q ? `No products match “${q}”.` : "No software instances yet." })));
      info.textContent = q ? `No products${filtered}` : "";
      return;
    }
    setContent(tbody, ...shown.map((p) => {
      const btn = el("button", { type: "button", class: "link product", "aria-controls": "instances-card",
        "aria-current": isSelected(p) ? "true" : null, title: "Show its instances" }, p.name || p.guid);
      btn.addEventListener("click", () => select(p, true));
      const name = p.kind === "component"
        ? el("span", { class: "stack" }, btn, el("small", { class: "muted", text: "no product (component)" }))
        : btn;
      return el("tr", { "data-key": `${p.kind}:${p.guid}`, class: isSelected(p) ? "selected" : null },
        el("td", {}, p.publisher ? p.publisher : el("span", { class: "muted", text: "—" })),
        el("td", { class: "wrap" }, name),
        el("td", {}, text(p.release)),
        el("td", {}, p.metric ? p.metric : el("span", { class: "muted", text: "none" })),
        el("td", { class: "num" }, number.format(p.computers.size)),
        el("td", { class: p.unconfirmed ? "num attention" : "num" }, number.format(p.unconfirmed)));
    }));
    const nProducts = shown.filter((p) => p.kind === "product").length;
    const nComponents = shown.length - nProducts;
    info.textContent = `${plural(nProducts, "product", "products")}` +
      (nComponents ? ` and ${plural(nComponents, "component", "components")} with no product` : "") + filtered;
  }

  async function loadProducts() {
    const error = $("products-error");
    try {
      products = aggregate(await pullPresent());
      error.hidden = true;
    } catch (e) {
      error.textContent = e.status === 403 ? e.message : `Cannot load the products: ${e.message}`;
      error.hidden = false;
      setContent($("products").tBodies[0], el("tr", {}, el("td", { colspan: "6", class: "empty error", text: `Cannot load the products: ${e.message}` })));
      return;
    }
    renderProducts();
    if (selected) {
      const p = products.find((x) => isSelected(x));
      if (p) paintSelected(p);
    }
  }

  // ---- The selected product's instances ----

  function writeUrl() {
    const p = new URLSearchParams(location.search);
    const q = $("products-q").value.trim();
    if (q) p.set("q", q); else p.delete("q");
    p.delete("product"); p.delete("component");
    if (selected) p.set(selected.kind, selected.guid);
    const qs = p.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  function paintSelected(p) {
    $("instances-title").textContent = `Instances of ${titleOf(p)}`;
    const bits = [];
    if (p.kind === "product") bits.push(p.publisher, p.metric ? `metric ${p.metric}` : "no metric");
    else bits.push("component with no product in the catalog");
    bits.push(`present on ${plural(p.computers.size, "computer", "computers")}`, `${number.format(p.unconfirmed)} unconfirmed`);
    $("instances-sub").textContent = bits.filter(Boolean).join(" · ");
  }

  // How many bundling options each component has in the catalog in force
  // (the catalog's size, not the estate's), to offer Reassign only where
  // there is another product to choose.
  async function loadOptionCounts() {
    const counts = new Map();
    let offset = 0;
    for (;;) {
      const page = await api(`/api/sam/v2/bundling_options?columns[]=component_guid&limit=${PAGE}&offset=${offset}`);
      for (const o of page.rows) counts.set(o.component_guid, (counts.get(o.component_guid) || 0) + 1);
      offset += page.rows.length;
      if (page.rows.length === 0 || offset >= page.total) break;
    }
    optionCount = counts;
  }

  function select(p, focus) {
    selected = { kind: p.kind, guid: p.guid };
    writeUrl();
    renderProducts();
    paintSelected(p);
    $("instances-card").hidden = false;
    $("classify-result").hidden = true;
    if (!instances) instances = makeInstancesView();
    instances.offset = 0;
    instances.load();
    if (focus) {
      $("instances-title").focus();
      $("instances-card").scrollIntoView({ block: "start" });
    }
  }

  function closeInstances() {
    selected = null;
    writeUrl();
    $("instances-card").hidden = true;
    renderProducts();
    $("products-q").focus();
  }

  function instanceCriteria() {
    if (!selected) return null;
    if (selected.kind === "product") return { and: [["product_release_guid", "=", selected.guid], PRESENT] };
    return { and: [["discoverable_guid", "=", selected.guid], ["product_release_guid", "=", null], PRESENT] };
  }

  function computerCell(r) {
    return el("span", { class: "stack" }, text(r.computer_name || `computer ${r.computer_id}`),
      r.computer_dns_name && r.computer_dns_name !== r.computer_name ? el("small", { class: "muted", text: r.computer_dns_name }) : null);
  }

  function componentCell(r) {
    return el("span", { class: "stack" }, text(r.component_name),
      r.component_release ? el("small", { class: "muted", text: `release ${r.component_release}` }) : null);
  }

  function evidenceCell(r) {
    const what = [r.evidence_name, r.evidence_version].filter(Boolean).join(" ");
    return el("span", { class: "stack evidence" },
      KINDS[r.signature_kind] || text(r.signature_kind),
      el("small", { class: "muted" }, `${text(r.evidence_source)}: `, el("code", { text: what || "—" })));
  }

  function statusCell(r) {
    const badges = el("span", { class: "flags" },
      el("span", { class: r.is_confirmed ? "flag ok" : "flag", text: r.is_confirmed ? "Confirmed" : "Unconfirmed" }),
      r.is_excluded ? el("span", { class: "flag bad", text: "Excluded" }) : null,
      r.is_suppressed ? el("span", { class: "flag bad", text: "Suppressed" }) : null);
    return el("span", { class: "stack" }, badges,
      r.exclusion_or_suppress_comment ? el("small", { class: "comment", text: `“${r.exclusion_or_suppress_comment}”` }) : null);
  }

  function discoveredCell(r) {
    return el("span", { class: "stack" }, timeEl(r.discovery_start, { day: true }),
      r.discovery_end ? el("small", { class: "muted" }, "ended ", timeEl(r.discovery_end, { day: true })) : null);
  }

  const where = (r) => `${r.component_name} on ${r.computer_name || `computer ${r.computer_id}`}`;

  function actionsCell(r) {
    const b = (action, label, cls) => {
      const btn = el("button", { type: "button", class: `small ${cls || ""}`.trim(), "data-action": action,
        "data-instance": String(r.instance_id), "aria-label": `${label.replace("…", "")} ${where(r)}` }, label);
      btn.addEventListener("click", () => act(action, r));
      return btn;
    };
    return el("span", { class: "row-actions" },
      r.product_release_guid && !r.is_confirmed ? b("confirm", "Confirm", "primary") : null,
      // Only where the catalog offers another product for the component.
      (optionCount.get(r.discoverable_guid) || 0) > (r.product_release_guid ? 1 : 0) ? b("reassign", "Reassign…") : null,
      r.product_release_guid ? (r.is_excluded ? b("include", "Include") : b("exclude", "Exclude…", "danger")) : null,
      r.is_suppressed ? b("unsuppress", "Unsuppress") : b("suppress", "Suppress…", "danger"));
  }

  async function auditOf(r) {
    const p = new URLSearchParams();
    p.set("criteria", JSON.stringify({ and: [["instance_id", "=", r.instance_id]] }));
    p.set("limit", "100");
    const page = await api(`/api/sam/v2/classification_audit?${p}`);
    if (page.rows.length === 0) return el("p", { class: "muted", text: "Nobody has classified this instance yet." });
    return el("ol", { class: "audit" }, ...page.rows.map((a) => el("li", {},
      timeEl(a.time), " · ", el("strong", { text: a.action }), ` by ${text(a.user_name)}`,
      a.product_release_guid && a.action === "assign" ? ` to ${a.product_release_guid}` : null,
      a.comment ? el("span", { class: "comment", text: ` — “${a.comment}”` }) : null)));
  }

  async function details(r) {
    const item = (term, ...value) => el("div", {}, el("dt", { text: term }), el("dd", {}, ...value));
    const be = r.bundling_evidence || {};
    return el("div", { class: "details", role: "group", "aria-label": `Details of ${where(r)}` },
      el("dl", { class: "facts detail-facts" },
        item("Instance id", String(r.instance_id)),
        item("Computer", text(r.computer_name), r.computer_dns_name ? el("small", { class: "muted", text: ` (${r.computer_dns_name})` }) : null),
        item("Component", text(r.component_name), " ", el("code", { text: r.discoverable_guid })),
        item("Product", r.product_release_guid ? `${r.product_name}${r.product_release ? " " + r.product_release : ""}` : "no product",
          r.product_release_guid ? el("code", { text: ` ${r.product_release_guid}` }) : null),
        item("Metric", text(r.metric_id)),
        item("Charged", r.is_charged ? "Yes" : "No"),
        item("Detailed version", text(r.component_detailed_version)),
        item("Discovery path", text(r.discovery_path)),
        item("Signature kind", KINDS[r.signature_kind] || text(r.signature_kind)),
        item("Evidence source", text(r.evidence_source)),
        item("Evidence name", el("code", { text: text(r.evidence_name) })),
        item("Evidence version", text(r.evidence_version)),
        item("Bundling rule", text(be.bundling_rule_name), be.bundling_rule ? ` (${be.bundling_rule})` : null),
        item("Bundling details", el("code", { text: text(be.details) })),
        item("Discovery start", timeEl(r.discovery_start)),
        item("Discovery end", timeEl(r.discovery_end))),
      el("h3", { text: "Classification history" }),
      await auditOf(r));
  }

  function makeInstancesView() {
    const columns = [
      { key: "computer_name", label: "Computer", sort: "computer_name", cls: "sticky", render: computerCell },
      { key: "component_name", label: "Component", sort: "component_name", cls: "wrap", render: componentCell },
      { key: "component_detailed_version", label: "Version", sort: "component_detailed_version" },
      { key: "discovery_path", label: "Discovery path", sort: "discovery_path", cls: "wrap path",
        render: (r) => (r.discovery_path ? el("code", { text: r.discovery_path }) : el("span", { class: "muted", text: "not recorded" })) },
      { key: "evidence", label: "Evidence", sort: "signature_kind", render: evidenceCell },
      { key: "bundling", label: "Bundling rule", render: (r) => text((r.bundling_evidence || {}).bundling_rule_name) },
      { key: "status", label: "Status", sort: "is_confirmed", cls: "wrap status", render: statusCell },
      { key: "discovered", label: "Discovered", sort: "discovery_start", render: discoveredCell },
    ];
    if (dialog) columns.push({ key: "actions", label: "Actions", render: actionsCell });
    const error = $("instances-error");
    return new ListView({
      endpoint: ENDPOINT,
      noun: ["instance", "instances"],
      table: $("instances"),
      pager: $("instances-pager"),
      fetch: INSTANCE_FIELDS,
      columns,
      criteria: instanceCriteria,
      rowId: (r) => r.instance_id,
      details,
      rowLabel: where,
      pageSize: 25,
      onLoad: () => { error.hidden = true; },
      onError: (e) => {
        error.textContent = e.status === 403 ? e.message : `Cannot load the instances: ${e.message}`;
        error.hidden = false;
      },
    });
  }

  // ---- Classification ----

  // The API's summary in words: what changed, what was already so, what
  // was refused and why.
  function summaryText(s) {
    const parts = [];
    for (const [action, n] of Object.entries(s.valid_instances || {})) parts.push(`${action}: ${plural(n, "instance", "instances")}.`);
    if (s.unmodified_instances) parts.push(`Unchanged (already so): ${plural(s.unmodified_instances, "instance", "instances")}.`);
    for (const [reason, n] of Object.entries(s.invalid_instances || {})) parts.push(`Refused (${plural(n, "instance", "instances")}): ${reason}.`);
    return parts.join(" ") || "Nothing to do.";
  }

  async function classify(row) {
    const answer = await api(ENDPOINT, { method: "PUT", body: [row] });
    const s = answer.summary || {};
    return { ok: Object.keys(s.invalid_instances || {}).length === 0, text: summaryText(s) };
  }

  function showResult(res) {
    const p = $("classify-result");
    p.className = `msg ${res.ok ? "ok" : "error"}`;
    p.textContent = res.text;
    p.hidden = false;
  }

  async function refresh(focusAction, instanceId) {
    await Promise.all([instances.load(), loadProducts()]);
    const again = document.querySelector(`#instances button[data-action="${focusAction}"][data-instance="${instanceId}"]`)
      || document.querySelector(`#instances button[data-instance="${instanceId}"]`);
    (again || $("instances-title")).focus();
  }

  let pending = null; // { action, row }

  async function act(action, r) {
    const direct = { confirm: { is_confirmed: true }, include: { is_excluded: false }, unsuppress: { is_suppressed: false } };
    if (direct[action]) {
      let res;
      try { res = await classify({ instance_id: r.instance_id, ...direct[action] }); }
      catch (e) { res = { ok: false, text: e.message }; }
      showResult(res);
      await refresh(action, r.instance_id);
      return;
    }
    openDialog(action, r);
  }

  async function openDialog(action, r) {
    pending = { action, row: r };
    const title = { reassign: "Reassign instance", exclude: "Exclude product on this computer", suppress: "Suppress component on this computer" }[action];
    $("classify-title").textContent = title;
    const err = $("classify-error");
    err.hidden = true;
    const comment = $("classify-comment");
    comment.value = "";
    $("classify-comment-field").hidden = action === "reassign";
    $("classify-product-field").hidden = action !== "reassign";
    $("classify-apply").disabled = false;
    $("classify-apply").textContent = { reassign: "Reassign", exclude: "Exclude", suppress: "Suppress" }[action];
    const what = $("classify-what");
    if (action === "exclude") {
      what.textContent = `Exclude ${r.product_name} on ${r.computer_name}: every instance of this product on this computer, now and in later imports, counts for nothing. A comment saying why is required.`;
    } else if (action === "suppress") {
      what.textContent = `Suppress ${r.component_name} on ${r.computer_name} (a false discovery): it counts for no product on this computer, now and in later imports. A comment saying why is required.`;
    } else {
      what.textContent = `Assign ${r.component_name} on ${r.computer_name}, now under ${r.product_name ? `${r.product_name}${r.product_release ? " " + r.product_release : ""}` : "no product"}, to another product among the component's bundling options.`;
      const select = $("classify-product");
      setContent(select, el("option", { text: "Loading…", value: "" }));
      select.disabled = true;
      $("classify-apply").disabled = true;
    }
    dialog.showModal();
    if (action !== "reassign") { comment.focus(); return; }
    try {
      const p = new URLSearchParams();
      p.set("criteria", JSON.stringify({ and: [["component_guid", "=", r.discoverable_guid]] }));
      p.set("limit", "1000");
      const page = await api(`/api/sam/v2/bundling_options?${p}`);
      if (!pending || pending.row !== r) return;
      const others = page.rows.filter((o) => o.product_release_guid !== r.product_release_guid);
      const select = $("classify-product");
      if (others.length === 0) {
        setContent(select, el("option", { value: "", text: "No other product" }));
        err.textContent = `The catalog in force lists no other product for ${r.component_name}.`;
        err.hidden = false;
        return;
      }
      setContent(select, ...others.map((o) => el("option", { value: o.product_release_guid,
        text: `${o.product_publisher_name} · ${o.product_name}${o.product_release ? " " + o.product_release : ""}` +
          ` (${o.metric_id || "no metric"}${o.is_charged ? "" : ", not charged"})` })));
      select.disabled = false;
      $("classify-apply").disabled = false;
      select.focus();
    } catch (e) {
      err.textContent = `Cannot load the bundling options: ${e.message}`;
      err.hidden = false;
    }
  }

  async function applyDialog(ev) {
    ev.preventDefault();
    if (!pending) return;
    const { action, row: r } = pending;
    const comment = $("classify-comment").value.trim();
    let body;
    if (action === "reassign") body = { instance_id: r.instance_id, product_release_guid: $("classify-product").value };
    else if (action === "exclude") body = { instance_id: r.instance_id, is_excluded: true, exclusion_or_suppress_comment: comment };
    else body = { instance_id: r.instance_id, is_suppressed: true, exclusion_or_suppress_comment: comment };
    const apply = $("classify-apply");
    apply.disabled = true;
    const err = $("classify-error");
    let res;
    try { res = await classify(body); }
    catch (e) { res = { ok: false, text: e.message }; }
    apply.disabled = false;
    if (!res.ok) {
      // Refused: the dialog stays open with the server's reason.
      err.textContent = res.text;
      err.hidden = false;
      (action === "reassign" ? $("classify-product") : $("classify-comment")).focus();
      return;
    }
    pending = null;
    dialog.close();
    showResult(res);
    await refresh(action, r.instance_id);
  }

  function init() {
    const table = $("products");
    if (!table) return; // no view_software: the page says so instead
    const params = new URLSearchParams(location.search);
    const input = $("products-q");
    input.value = params.get("q") || "";
    let timer = null;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { writeUrl(); renderProducts(); }, 200); });
    $("products-search").addEventListener("submit", (ev) => { ev.preventDefault(); writeUrl(); renderProducts(); });
    $("instances-close").addEventListener("click", closeInstances);
    if (dialog) {
      $("classify-form").addEventListener("submit", applyDialog);
      $("classify-cancel").addEventListener("click", () => { pending = null; dialog.close(); });
      dialog.addEventListener("close", () => { pending = null; });
    }
    for (const kind of ["product", "component"]) {
      if (params.get(kind)) selected = { kind, guid: params.get(kind) };
    }
    const options = dialog ? loadOptionCounts().catch((e) => {
      $("instances-error").textContent = `Cannot load the bundling options: ${e.message}`;
      $("instances-error").hidden = false;
    }) : Promise.resolve();
    Promise.all([loadProducts(), options]).then(() => {
      if (!selected) return;
      const p = products.find((x) => isSelected(x));
      if (p) select(p, false);
      else {
        // Named in the address but with no present instance (any more).
        $("instances-card").hidden = false;
        $("instances-title").textContent = `Instances of ${selected.guid}`;
        $("instances-sub").textContent = "no present instance";
        if (!instances) instances = makeInstancesView();
        instances.load();
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
