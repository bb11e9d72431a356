// openlmt web panel: helpers shared by every page (plain JS, no build step,
// no dependencies). Each page's own script (imports.js, computers.js, …)
// loads after this one and takes what it needs from `window.openlmt`.
//
// - api(): fetch the JSON API with the session cookie; state-changing
//   requests carry the page's CSRF token in the X-CSRF-Token header; a 401
//   sends the browser to the login form; an error answer becomes an
//   ApiError with the server's message.
// - el(), setContent(), timeEl(), duration(), unknown(): building the DOM.
// - ListView: a searchable, sortable, paged table over an ILMT-style v2 list
//   endpoint ({"total":N,"rows":[…]} with columns[], criteria, order,
//   limit and offset), with rows that expand to show details.
"use strict";

window.openlmt = (function () {
  const $ = (id) => document.getElementById(id);
  const meta = (name) => {
    const m = document.querySelector(`meta[name="${name}"]`);
    return m ? m.content : "";
  };
  const CSRF = meta("csrf-token");

  // Once the user logs out, the page is leaving: a poll that the ended
  // session makes fail with 401 must not send the browser to the login form
  // ("?next=…") instead of the logged-out page the form's answer leads to.
  let loggingOut = false;
  document.addEventListener("submit", (ev) => {
    if (ev.target instanceof HTMLFormElement && ev.target.getAttribute("action") === "/logout") loggingOut = true;
  }, true);

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, { method = "GET", body, headers = {}, text = false, signal } = {}) {
    const h = { Accept: text ? "text/plain" : "application/json", ...headers };
    if (method !== "GET" || path.includes("run=")) h["X-CSRF-Token"] = CSRF;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method, headers: h, credentials: "same-origin", cache: "no-store", signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401) {
      // The session expired or was ended elsewhere: log in again.
      if (!loggingOut) location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new ApiError(401, "Your session has ended; please log in again.");
    }
    if (!resp.ok) {
      let msg = `${resp.status} ${resp.statusText}`;
      try { msg = (await resp.json()).error || msg; } catch (_) { /* not JSON */ }
      throw new ApiError(resp.status, msg);
    }
    return text ? resp.text() : resp.json();
  }

  // ---- DOM and formatting ----
  const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function setContent(node, ...children) { node.replaceChildren(...children.filter((c) => c !== null && c !== undefined)); }

  // A <time> in the browser's zone, with the UTC value on hover; `day`
  // shows only the date (narrow table cells; the hover still has the time).
  function timeEl(iso, { day = false } = {}) {
    if (!iso) return document.createTextNode("—");
    const d = new Date(iso);
    if (isNaN(d)) return document.createTextNode(iso);
    return el("time", {
      datetime: d.toISOString(),
      title: d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC"),
      text: (day ? dayFmt : dateFmt).format(d),
    });
  }

  function duration(sec) {
    if (sec === null || sec === undefined) return "—";
    if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`;
    const m = Math.floor(sec / 60), s = Math.round(sec % 60);
    if (m < 60) return `${m} min ${s} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  // A value the scan did not tell (null): "unknown", never 0 or blank.
  function unknown() { return el("span", { class: "unknown", text: "unknown" }); }

  // A value or, when null, "unknown".
  function orUnknown(v) { return v === null || v === undefined ? unknown() : String(v); }

  const number = new Intl.NumberFormat();

  // ---- ListView ----
  //
  // new ListView({
  //   endpoint: "/api/sam/v2/computers",
  //   noun: ["computer", "computers"],
  //   table, pager: elements (the <table> with a <caption>, and an empty
  //     container for the paging controls),
  //   columns: [{ key, label, sort?: field, num?: bool, cls?: "…",
  //               render?: (row) => Node|string }],   // shown columns;
  //     cls "sticky" keeps the column in view when the table scrolls
  //     sideways (the first shown column, which names the row)
  //   fetch: ["id", …],            // columns[] asked of the API
  //   search: (text) => criteria|null,   // the search box's filter
  //   criteria: () => criteria|null // optional: a filter always applied
  //     (and-ed with the search's), e.g. one product's instances
  //   rowId: (row) => id           // optional: the row's data-id (row.id)
  //   searchInput, searchForm: elements (optional)
  //   details: async (row) => Node  // optional: rows expand to show it
  //   rowLabel: (row) => "…"      // names the row for the expand button
  //   pageSizes: [10, 25, 50, 100], pageSize: 25,
  //   urlState: true               // keep q/order/offset/limit in the URL
  //   onError: (ApiError) => void  // a failed load (403: a clear message)
  // })
  //
  // Sorting uses the API's `order` (`field` or `-field`); rows that compare
  // equal keep the API's default order, so pages stay stable.
  class ListView {
    constructor(opts) {
      this.o = { pageSizes: [10, 25, 50, 100], pageSize: 25, urlState: false, ...opts };
      this.offset = 0;
      this.limit = this.o.pageSize;
      this.order = null; // { field, desc }
      this.query = "";
      this.total = 0;
      this.seq = 0;
      this.inflight = null;
      if (this.o.urlState) this.readUrl();
      this.build();
    }

    readUrl() {
      const p = new URLSearchParams(location.search);
      this.query = p.get("q") || "";
      const order = p.get("order");
      if (order) {
        const desc = order.startsWith("-");
        const field = desc ? order.slice(1) : order;
        if (this.o.columns.some((c) => c.sort === field)) this.order = { field, desc };
      }
      const limit = Number(p.get("limit"));
      if (this.o.pageSizes.includes(limit)) this.limit = limit;
      const offset = Number(p.get("offset"));
      if (Number.isInteger(offset) && offset > 0) this.offset = offset - (offset % this.limit);
    }

    writeUrl() {
      if (!this.o.urlState) return;
      const p = new URLSearchParams(location.search);
      const set = (k, v, dflt) => { if (v === dflt || v === "" || v === null) p.delete(k); else p.set(k, String(v)); };
      set("q", this.query, "");
      set("order", this.order ? (this.order.desc ? "-" : "") + this.order.field : null, null);
      set("offset", this.offset, 0);
      set("limit", this.limit, this.o.pageSize);
      const qs = p.toString();
      history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
    }

    build() {
      const { table, pager, columns } = this.o;
      const ncols = columns.length + (this.o.details ? 1 : 0);
      this.ncols = ncols;
      const head = el("tr");
      if (this.o.details) head.append(el("th", { scope: "col", class: "toggle" }, el("span", { class: "sr-only", text: "Details" })));
      this.headers = columns.map((c) => {
        const th = el("th", { scope: "col", class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null, "data-key": c.key });
        if (c.sort) {
          const btn = el("button", { type: "button", class: "sort", "data-sort": c.sort }, c.label, el("span", { class: "arrow", "aria-hidden": "true" }));
          btn.addEventListener("click", () => this.sortBy(c.sort));
          th.append(btn);
        } else th.textContent = c.label;
        head.append(th);
        return { col: c, th };
      });
      let thead = table.tHead;
      if (!thead) { thead = el("thead"); table.append(thead); }
      setContent(thead, head);
      this.tbody = table.tBodies[0] || table.appendChild(el("tbody"));
      this.message(`Loading…`);

      this.prev = el("button", { type: "button", class: "page-prev", text: "Previous" });
      this.next = el("button", { type: "button", class: "page-next", text: "Next" });
      this.info = el("span", { class: "page-info", "aria-live": "polite" });
      const sizeId = `${table.id}-page-size`;
      this.size = el("select", { id: sizeId }, ...this.o.pageSizes.map((n) => el("option", { value: String(n), text: String(n) })));
      this.size.value = String(this.limit);
      this.prev.addEventListener("click", () => { this.offset = Math.max(0, this.offset - this.limit); this.load(); });
      this.next.addEventListener("click", () => { if (this.offset + this.limit < this.total) { this.offset += this.limit; this.load(); } });
      this.size.addEventListener("change", () => { this.limit = Number(this.size.value); this.offset = 0; this.load(); });
      setContent(pager,
        el("span", { class: "page-size" }, el("label", { for: sizeId, text: "Rows per page" }), this.size),
        this.prev, this.info, this.next);

      const input = this.o.searchInput;
      if (input) {
        input.value = this.query;
        let timer = null;
        const apply = () => {
          clearTimeout(timer);
          const q = input.value.trim();
          if (q === this.query) return;
          this.query = q; this.offset = 0; this.load();
        };
        input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 300); });
        if (this.o.searchForm) this.o.searchForm.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
      }
      this.paintSort();
    }

    sortBy(field) {
      if (this.order && this.order.field === field) this.order = { field, desc: !this.order.desc };
      else this.order = { field, desc: false };
      this.offset = 0;
      this.paintSort();
      this.load();
    }

    paintSort() {
      for (const { col, th } of this.headers) {
        if (!col.sort) continue;
        const on = this.order && this.order.field === col.sort;
        if (on) th.setAttribute("aria-sort", this.order.desc ? "descending" : "ascending");
        else th.removeAttribute("aria-sort");
        const btn = th.querySelector("button");
        btn.querySelector(".arrow").textContent = on ? (this.order.desc ? " ▼" : " ▲") : "";
        btn.title = `Sort by ${col.label}` + (on && !this.order.desc ? ", descending" : "");
      }
    }

    message(text, cls = "empty") {
      setContent(this.tbody, el("tr", {}, el("td", { colspan: String(this.ncols), class: cls, text })));
    }

    url() {
      const p = new URLSearchParams();
      for (const c of this.o.fetch) p.append("columns[]", c);
      p.set("limit", String(this.limit));
      p.set("offset", String(this.offset));
      if (this.order) p.set("order", (this.order.desc ? "-" : "") + this.order.field);
      const parts = [];
      const fixed = this.o.criteria ? this.o.criteria() : null;
      if (fixed) parts.push(fixed);
      if (this.query && this.o.search) {
        const searched = this.o.search(this.query);
        if (searched) parts.push(searched);
      }
      if (parts.length) p.set("criteria", JSON.stringify(parts.length === 1 ? parts[0] : { and: parts }));
      return `${this.o.endpoint}?${p}`;
    }

    async load() {
      const seq = ++this.seq;
      if (this.inflight) this.inflight.abort();
      const ctl = new AbortController();
      this.inflight = ctl;
      this.writeUrl();
      this.o.table.setAttribute("aria-busy", "true");
      let page;
      try {
        page = await api(this.url(), { signal: ctl.signal });
      } catch (e) {
        if (seq !== this.seq || e.name === "AbortError") return;
        this.o.table.removeAttribute("aria-busy");
        this.message(`Cannot load the ${this.o.noun[1]}: ${e.message}`, "empty error");
        this.info.textContent = "";
        this.prev.disabled = this.next.disabled = true;
        if (this.o.onError) this.o.onError(e);
        return;
      }
      if (seq !== this.seq) return;
      this.o.table.removeAttribute("aria-busy");
      this.total = page.total;
      if (this.offset > 0 && page.rows.length === 0 && page.total > 0) {
        // Past the end (the list shrank): go to the last page.
        this.offset = Math.max(0, Math.floor((page.total - 1) / this.limit) * this.limit);
        return this.load();
      }
      this.render(page.rows);
      const [one, many] = this.o.noun;
      const first = page.total === 0 ? 0 : this.offset + 1;
      const last = this.offset + page.rows.length;
      const filtered = this.query ? ` matching “${this.query}”` : "";
      this.info.textContent = page.total === 0 ? `No ${many}${filtered}`
        : `${number.format(first)}–${number.format(last)} of ${number.format(page.total)} ${page.total === 1 ? one : many}${filtered}`;
      this.prev.disabled = this.offset === 0;
      this.next.disabled = this.offset + this.limit >= page.total;
      if (this.o.onLoad) this.o.onLoad(page);
    }

    render(rows) {
      if (rows.length === 0) {
        this.message(this.query ? `No ${this.o.noun[1]} match “${this.query}”.` : `No ${this.o.noun[1]} yet.`);
        return;
      }
      const trs = [];
      rows.forEach((row, i) => {
        const id = this.o.rowId ? this.o.rowId(row) : row.id;
        const tr = el("tr", { "data-id": id === undefined || id === null ? null : String(id) });
        if (this.o.details) {
          const detailId = `${this.o.table.id}-detail-${this.offset + i}`;
          const btn = el("button", {
            type: "button", class: "expand", "aria-expanded": "false", "aria-controls": detailId,
            "aria-label": `Details of ${this.o.rowLabel ? this.o.rowLabel(row) : row.id}`,
          }, el("span", { "aria-hidden": "true", text: "▸" }));
          btn.addEventListener("click", () => this.toggle(btn, tr, row, detailId));
          tr.append(el("td", { class: "toggle" }, btn));
        }
        for (const c of this.o.columns) {
          const v = c.render ? c.render(row) : row[c.key];
          const td = el("td", { class: [c.num ? "num" : "", c.cls || ""].join(" ").trim() || null });
          td.append(v === null || v === undefined ? "—" : v);
          tr.append(td);
        }
        trs.push(tr);
      });
      setContent(this.tbody, ...trs);
    }

    async toggle(btn, tr, row, detailId) {
      const open = btn.getAttribute("aria-expanded") === "true";
      if (open) {
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
      const cell = el("td", { colspan: String(this.ncols) }, el("p", { class: "muted", text: "Loading…" }));
      const detail = el("tr", { id: detailId, class: "detail" }, cell);
      tr.after(detail);
      try {
        setContent(cell, await this.o.details(row));
      } catch (e) {
        setContent(cell, el("p", { class: "msg error", text: `Cannot load the details: ${e.message}` }));
      }
    }
  }

  return { $, meta, CSRF, ApiError, api, el, setContent, timeEl, duration, unknown, orUnknown, number, ListView };
})();
