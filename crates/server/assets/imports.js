// openlmt panel: the Data Imports page. Plain JS, no build step, no
// dependencies; the shared helpers (api, el, timeEl, …) are in panel.js,
// loaded before this file.
"use strict";

(function () {
  const { $, meta, api, el, setContent, timeEl, duration } = window.openlmt;
  const CAN_MANAGE = meta("can-manage") === "true";
  const ME = $("who").textContent;
  const PAGE_SIZE = 10;
  const TYPES = { complete: "Complete", raw_only: "Raw data only" };

  let lastStatus = null;
  let activeId = null;
  let wasActive = null;
  let historyOffset = 0;
  let historyTotal = 0;
  let busy = false;

  // ---- formatting ----
  function timeLeft(sec) {
    if (sec === null || sec === undefined) return "";
    if (sec < 60) return `in ${sec} s`;
    const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60);
    if (d > 0) return `in ${d} d ${h} h`;
    if (h > 0) return `in ${h} h ${m} min`;
    return `in ${m} min`;
  }

  function statusSpan(s) {
    return el("span", { class: `status-${s}`, text: s ? s.replace("_", " ") : "—" });
  }

  function notify(text, kind = "") {
    const n = $("notice");
    n.textContent = text;
    n.className = "notice " + kind;
    n.hidden = !text;
  }

  // ---- status card ----
  function isActive(mode) { return mode === "running" || mode === "pending"; }

  async function topImport() {
    const page = await api("/api/imports?limit=1");
    return page.rows[0] || null;
  }

  async function refreshStatus() {
    const st = await api("/api/import_status.json");
    lastStatus = st;
    const active = isActive(st.mode);
    let step = null;
    let progress = st.progress;
    if (active) {
      const top = await topImport();
      if (top && (top.status === "running" || top.status === "pending")) {
        activeId = top.id;
        const detail = await api(`/api/imports/${top.id}`);
        step = detail.current_step || (top.status === "pending" ? "waiting to start" : null);
        if (typeof detail.progress === "number") progress = detail.progress;
      }
    } else {
      activeId = null;
    }

    const mode = $("mode");
    mode.dataset.mode = st.mode;
    mode.textContent = st.mode === "none" ? "no imports yet" : st.mode;

    const bar = $("progress");
    bar.setAttribute("aria-valuenow", String(progress));
    bar.dataset.state = active ? "running" : st.last_status === "successful" ? "done" : st.last_status ? "failed" : "";
    $("progress-fill").style.width = `${progress}%`;
    $("progress-text").textContent = `${progress}%`;
    $("step").textContent = active ? (step || "starting") : "—";

    const lastImport = $("last-import");
    if (st.last_import_type) {
      const row = await lastFinished();
      setContent(lastImport, `${TYPES[st.last_import_type] || st.last_import_type}, ended `, timeEl(st.last_import_time),
        row ? ` (took ${duration(row.duration_seconds)})` : "");
    } else setContent(lastImport, "—");
    setContent($("last-status"), st.last_status ? statusSpan(st.last_status) : "—");
    setContent($("last-success"), timeEl(st.last_success_time));
    if (st.next_import_time) {
      setContent($("next-import"), `${TYPES[st.next_import_type] || st.next_import_type || ""} `, timeEl(st.next_import_time),
        ` (${timeLeft(st.next_import_time_in)})`);
    } else setContent($("next-import"), "not scheduled");

    if (CAN_MANAGE) {
      $("cancel").disabled = !active || activeId === null;
    }

    if (wasActive !== null && wasActive !== active) {
      if (active) {
        $("status-live").textContent = `An import is ${st.mode}.`;
      } else {
        $("status-live").textContent = `The import ended: ${st.last_status}.`;
        notify(`The import ended: ${st.last_status}.`, st.last_status === "successful" ? "ok" : "error");
      }
      loadHistory();
    } else if (active && historyOffset === 0) {
      loadHistory(); // the running import's row: duration, counts
    }
    wasActive = active;
  }

  // The duration of the last finished import, from the history.
  let lastFinishedCache = { key: null, row: null };
  async function lastFinished() {
    const key = lastStatus && lastStatus.last_import_time;
    if (lastFinishedCache.key === key) return lastFinishedCache.row;
    const page = await api("/api/imports?limit=5");
    const row = page.rows.find((r) => r.finished_at) || null;
    lastFinishedCache = { key, row };
    return row;
  }

  async function pollLoop() {
    try {
      await refreshStatus();
    } catch (e) {
      if (e.status !== 401) notify(`Cannot read the import status: ${e.message}`, "error");
    }
    setTimeout(pollLoop, document.hidden ? 5000 : 1000);
  }

  // ---- run / cancel ----
  async function run(type) {
    if (busy) return;
    busy = true;
    const label = type === "raw_only" ? "raw data import" : "complete import";
    try {
      const st = await api("/api/import_status.json");
      if (isActive(st.mode)) {
        notify("An import is already running; a second one was not started. Wait for it to end or cancel it.", "");
        return;
      }
      const before = await topImport();
      await api(`/api/import_status.json?run=${type === "raw_only" ? "raw_only" : "true"}`,
        { headers: { "X-OpenLMT-Trigger": "panel" } });
      const after = await topImport();
      const started = after && (!before || after.id > before.id) && after.trigger === "panel" && after.requested_by === ME;
      if (started) notify(`Started ${label} #${after.id}.`, "ok");
      else notify("An import is already running; a second one was not started. Wait for it to end or cancel it.", "");
    } catch (e) {
      notify(`Could not start the ${label}: ${e.message}`, "error");
    } finally {
      busy = false;
    }
    refreshStatus().catch(() => {});
    loadHistory();
  }

  async function cancel() {
    if (activeId === null) return;
    const id = activeId;
    $("cancel").disabled = true;
    try {
      const row = await api(`/api/imports/${id}/cancel`, { method: "POST" });
      notify(`Import #${id} ended: ${row.status}.`, row.status === "cancelled" ? "" : "ok");
    } catch (e) {
      notify(`Could not cancel import #${id}: ${e.message}`, "error");
    }
    await refreshStatus().catch(() => {});
    loadHistory();
  }

  // ---- schedule ----
  function schedMessage(text, kind) {
    const m = $("sched-message");
    m.textContent = text;
    m.className = "msg " + kind;
    m.hidden = !text;
  }

  function whenChanged() {
    const cron = $("when-cron").checked;
    $("sched-cron").disabled = !cron || !CAN_MANAGE;
    $("sched-daily").disabled = cron || !CAN_MANAGE;
  }

  function fillSchedule(s) {
    $("sched-enabled").checked = s.enabled;
    // A daily schedule also has its cron form; a cron one has no daily time.
    const cron = !s.daily_time;
    $("when-cron").checked = cron;
    $("when-daily").checked = !cron;
    $("sched-cron").value = s.cron || "";
    if (s.daily_time) $("sched-daily").value = s.daily_time;
    $("sched-tz").value = s.timezone;
    $("sched-type").value = s.import_type;
    if (s.enabled && s.next_import_time) {
      setContent($("sched-next"), timeEl(s.next_import_time), ` (${timeLeft(s.next_import_time_in)})`);
    } else setContent($("sched-next"), s.enabled ? "—" : "none (the schedule is off)");
    whenChanged();
  }

  async function loadSchedule() {
    try { fillSchedule(await api("/api/import_schedule")); }
    catch (e) { schedMessage(`Cannot read the schedule: ${e.message}`, "error"); }
  }

  async function saveSchedule(ev) {
    ev.preventDefault();
    const body = {
      enabled: $("sched-enabled").checked,
      timezone: $("sched-tz").value.trim(),
      import_type: $("sched-type").value,
    };
    if ($("when-cron").checked) body.cron = $("sched-cron").value.trim();
    else body.daily_time = $("sched-daily").value;
    const save = $("sched-save");
    save.disabled = true;
    try {
      const s = await api("/api/import_schedule", { method: "PUT", body });
      fillSchedule(s);
      schedMessage("Schedule saved.", "ok");
      refreshStatus().catch(() => {});
    } catch (e) {
      schedMessage(e.message, "error");
      ($("when-cron").checked ? $("sched-cron") : $("sched-daily")).focus();
    } finally {
      save.disabled = false;
    }
  }

  // ---- history ----
  async function loadHistory() {
    let page;
    try {
      page = await api(`/api/imports?limit=${PAGE_SIZE}&offset=${historyOffset}`);
    } catch (e) {
      setContent($("history-body"), el("tr", {}, el("td", { colspan: "10", class: "empty", text: `Cannot load the history: ${e.message}` })));
      return;
    }
    historyTotal = page.total;
    if (historyOffset > 0 && page.rows.length === 0) { historyOffset = Math.max(0, historyOffset - PAGE_SIZE); return loadHistory(); }
    const rows = page.rows.map((r) => {
      const btn = el("button", { type: "button", class: "link", "aria-label": `Log and details of import ${r.id}`, text: "Log & details" });
      btn.addEventListener("click", () => openDetail(r.id, btn));
      return el("tr", { "data-id": String(r.id) },
        el("td", { text: String(r.id) }),
        el("td", { text: TYPES[r.type] || r.type }),
        el("td", { text: r.trigger }),
        el("td", { text: r.requested_by || "—" }),
        el("td", {}, timeEl(r.started_at || r.requested_at)),
        el("td", { text: duration(r.duration_seconds) }),
        el("td", {}, statusSpan(r.status)),
        el("td", { class: "num", text: String(r.packages.imported) }),
        el("td", { class: "num", text: String(r.packages.rejected) }),
        el("td", {}, btn));
    });
    if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "10", class: "empty", text: "No imports yet." })));
    setContent($("history-body"), ...rows);
    const first = page.total === 0 ? 0 : historyOffset + 1;
    $("page-info").textContent = `${first}–${historyOffset + page.rows.length} of ${page.total}`;
    $("page-prev").disabled = historyOffset === 0;
    $("page-next").disabled = historyOffset + PAGE_SIZE >= page.total;
  }

  // ---- detail dialog: steps, rejected packages, log ----
  let detailOpener = null;
  async function openDetail(id, opener) {
    detailOpener = opener;
    const dlg = $("detail");
    $("detail-title").textContent = `Import #${id}`;
    setContent($("detail-summary"), "Loading…");
    $("detail-log").textContent = "";
    setContent($("detail-rejected"));
    setContent($("detail-steps").tBodies[0]);
    if (!dlg.open) dlg.showModal();
    try {
      const [imp, rejected, log] = await Promise.all([
        api(`/api/imports/${id}`),
        api(`/api/imports/${id}/packages?state=rejected&limit=1000`),
        api(`/api/imports/${id}/log`, { text: true }),
      ]);
      setContent($("detail-summary"),
        `${TYPES[imp.type] || imp.type} import, ${imp.trigger}${imp.requested_by ? " by " + imp.requested_by : ""}; started `,
        timeEl(imp.started_at || imp.requested_at), `, took ${duration(imp.duration_seconds)}; status `, statusSpan(imp.status),
        imp.error ? `: ${imp.error}` : ".",
        ` Packages: ${imp.packages.found} found, ${imp.packages.imported} imported, ${imp.packages.rejected} rejected.`);
      setContent($("detail-steps").tBodies[0], ...imp.steps.map((s) => el("tr", {},
        el("td", { text: `${s.position}. ${s.name}` }),
        el("td", { class: "num", text: String(s.items_read) }),
        el("td", { class: "num", text: String(s.items_imported) }),
        el("td", { class: "num", text: String(s.items_rejected) }),
        el("td", { class: "num", text: String(s.warnings) }))));
      if (rejected.rows.length === 0) {
        setContent($("detail-rejected"), el("p", { text: "None." }));
      } else {
        const body = el("tbody", {}, ...rejected.rows.map((p) => el("tr", {},
          el("td", { text: p.data_source }), el("td", { text: p.file_name }), el("td", { class: "wrap", text: p.reason || "" }))));
        setContent($("detail-rejected"), el("div", { class: "table-wrap" }, el("table", { id: "rejected-table" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Data source" }), el("th", { scope: "col", text: "File" }), el("th", { scope: "col", text: "Reason" }))),
          body)));
      }
      $("detail-log").textContent = log || "(the log is empty)";
      const dl = $("log-download");
      dl.href = imp.log_url;
      dl.setAttribute("download", `import-${id}.log`);
    } catch (e) {
      setContent($("detail-summary"), `Cannot load import #${id}: ${e.message}`);
    }
  }

  function closeDetail() { $("detail").close(); }

  // ---- wiring ----
  function init() {
    if (CAN_MANAGE) {
      $("run-complete").addEventListener("click", () => run("complete"));
      $("run-raw").addEventListener("click", () => run("raw_only"));
      $("cancel").addEventListener("click", cancel);
      $("schedule-form").addEventListener("submit", saveSchedule);
    } else {
      $("schedule-fields").disabled = true;
      $("schedule-form").addEventListener("submit", (ev) => ev.preventDefault());
    }
    $("when-daily").addEventListener("change", whenChanged);
    $("when-cron").addEventListener("change", whenChanged);
    $("history-refresh").addEventListener("click", loadHistory);
    $("page-prev").addEventListener("click", () => { historyOffset = Math.max(0, historyOffset - PAGE_SIZE); loadHistory(); });
    $("page-next").addEventListener("click", () => { if (historyOffset + PAGE_SIZE < historyTotal) { historyOffset += PAGE_SIZE; loadHistory(); } });
    $("detail-close").addEventListener("click", closeDetail);
    $("detail").addEventListener("close", () => { if (detailOpener && detailOpener.isConnected) detailOpener.focus(); });
    try {
      const list = $("tz-list");
      for (const tz of Intl.supportedValuesOf("timeZone")) list.append(el("option", { value: tz }));
    } catch (_) { /* older browsers: free text */ }
    loadSchedule();
    loadHistory();
    pollLoop();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
