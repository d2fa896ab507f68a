// The jobs list (filters, paging, live rows over /v1/events) and the job page (live over its own SSE).
import { api, bar, eta, h, onLeave, render, short, showError, stateOf, TERMINAL, toast, when } from "./app.js";
import { reviewSection } from "./review.js";

const STATES = ["", "PENDING", "RUNNING", "RETRYING", "AWAITING_REVIEW", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"];
const KINDS = ["", "IMAGE", "VIDEO", "BATCH"];
const list = { filters: { state: "", kind: "", label: "", batch: "" }, tokens: [""], page: 0 };
let feed = null;  // the list's live stream: one at a time, however often the list is redrawn

// The batches page's "jobs" link: the list, showing one batch's jobs.
export function filterBatch(id) {
  Object.assign(list, { filters: { state: "", kind: "", label: "", batch: id }, tokens: [""], page: 0 });
}

function select(id, label, options, value) {
  return [h("label", { for: id }, label),
    h("select", { id, name: id }, options.map((o) => h("option", { value: o, selected: o === value }, o || "any")))];
}

function row(job) {
  const state = stateOf(job);
  return h("tr", { class: "row", "data-id": job.id },
    h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.id)),
    h("td", {}, short(job.kind, "JOB_KIND_").toLowerCase()),
    h("td", { class: `state s-${state}`, "data-field": "state" }, state),
    h("td", { "data-field": "step" }, short(job.step, "JOB_STEP_").toLowerCase()),
    h("td", { "data-field": "percent" }, bar(job.percent)),
    h("td", { class: "muted" }, when(job.createTime)));
}

export async function jobsPage() {
  const f = list.filters;
  const label = h("input", { id: "label", name: "label", value: f.label, placeholder: "key=value", size: 12 });
  const batch = h("input", { id: "batch", name: "batch", value: f.batch, size: 14 });
  const form = h("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    Object.assign(list, { filters: Object.fromEntries([...data.entries()]), tokens: [""], page: 0 });
    jobsPage();
  } }, h("div", {}, select("state", "State", STATES, f.state)), h("div", {}, select("kind", "Kind", KINDS, f.kind)),
  h("div", {}, h("label", { for: "label" }, "Label"), label), h("div", {}, h("label", { for: "batch" }, "Batch"), batch),
  h("button", { type: "submit" }, "Filter"));
  const query = new URLSearchParams({ pageSize: 20, pageToken: list.tokens[list.page] });
  for (const [key, value] of Object.entries(list.filters)) if (value) query.set(key, value);
  if (!list.filters.batch) query.set("topLevel", "true");
  const page = await api(`/v1/jobs?${query}`);
  const body = h("tbody", {}, (page.jobs || []).map(row));
  const pager = h("div", { class: "actions" },
    h("button", { class: "plain", disabled: list.page === 0, onclick: () => { list.page -= 1; jobsPage(); } }, "Previous"),
    h("span", { class: "muted" }, `page ${list.page + 1} · ${page.totalSize} jobs`),
    h("button", { class: "plain", disabled: !page.nextPageToken, onclick: () => {
      list.tokens[list.page + 1] = page.nextPageToken; list.page += 1; jobsPage(); } }, "Next"));
  render(h("h1", {}, "Jobs"), form, h("table", { class: "jobs", "aria-label": "jobs" },
    h("thead", {}, h("tr", {}, ["Job", "Kind", "State", "Step", "Progress", "Created"].map((t) => h("th", {}, t)))),
    body), pager);
  follow(body);
}

// Live rows: every event of my jobs updates its row; a job that is new to this page reloads the first page.
function follow(body) {
  if (feed) feed.close();
  const source = feed = new EventSource("/v1/events");
  let reload = null;
  source.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    const tr = body.querySelector(`tr[data-id="${CSS.escape(event.jobId)}"]`);
    if (tr) {
      const state = stateOf(event);
      const cell = tr.querySelector('[data-field="state"]');
      cell.textContent = state;
      cell.className = `state s-${state}`;
      tr.querySelector('[data-field="step"]').textContent = short(event.step, "JOB_STEP_").toLowerCase();
      tr.querySelector('[data-field="percent"]').replaceChildren(bar(event.percent));
    } else if (list.page === 0 && event.type === "EVENT_TYPE_CREATED" && !reload) {
      reload = setTimeout(() => { if (document.body.contains(body)) jobsPage(); }, 300);
    }
  });
  onLeave(() => { source.close(); clearTimeout(reload); });
}

function assetsView(job) {
  return (job.assets || []).map((asset, index) => {
    const url = `/v1/jobs/${encodeURIComponent(job.id)}/assets/${index}`;
    const media = asset.mimeType.startsWith("video/")
      ? h("video", { src: url, controls: true, preload: "metadata", width: asset.width || undefined })
      : h("img", { class: "preview", src: url, alt: `asset ${index} of ${job.id}`, loading: "lazy" });
    return h("figure", {}, media, h("figcaption", {}, h("a", { href: url, download: "" },
      `Download ${asset.mimeType} (${Math.round(asset.sizeBytes / 1024)} KB)`)));
  });
}

function control(job, action, label, danger) {
  return h("button", { class: danger ? "danger" : "plain", onclick: async () => {
    try { await api(`/v1/jobs/${encodeURIComponent(job.id)}/${action}`, { method: "POST", body: {} }); toast(`${label}: sent`); }
    catch (err) { showError(err); }
  } }, label);
}

function eventLine(event) {
  const what = short(event.type, "EVENT_TYPE_").toLowerCase().replace("_", " ");
  return h("li", {}, `${when(event.time)} — ${what}`, event.step ? ` (${short(event.step, "JOB_STEP_").toLowerCase()}` +
    `, ${Math.round(event.percent)}%)` : "", event.message ? `: ${event.message}` : "");
}

export async function jobPage(id) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  let job = (await api(path)).job;
  const timeline = h("ol", { class: "timeline", "aria-label": "timeline" });
  const status = h("div", { "aria-live": "polite" });
  const extra = h("div");
  function draw() {
    const state = stateOf(job);
    const actions = TERMINAL.includes(state) ? [] : [control(job, "pause", "Pause"), control(job, "resume", "Resume"),
      control(job, "cancel", "Cancel", true)];
    status.replaceChildren(
      h("p", {}, h("span", { id: "job-state", class: `state s-${state}` }, state), " · ",
        h("span", { id: "job-step" }, short(job.step, "JOB_STEP_").toLowerCase()), " · ",
        h("span", { id: "job-percent" }, `${Math.round(job.percent)}%`), " ",
        h("span", { class: "muted" }, TERMINAL.includes(state) ? "" : eta(job.estimatedCompletionTime))),
      bar(job.percent), h("p", { class: "muted" }, job.message || ""),
      job.error && job.error.code ? h("p", { class: "error" }, `${job.error.code}: ${job.error.message}`) : "",
      h("div", { class: "actions" }, actions));
    extra.replaceChildren(state === "AWAITING_REVIEW" || (job.reviews || []).length ? reviewSection(job, refresh) : "",
      h("h2", {}, "Assets"), h("div", { class: "candidates" }, assetsView(job)),
      job.kind === "JOB_KIND_BATCH" ? h("p", {}, `${job.batch.completed || 0} of ${job.batch.total} completed, ` +
        `${job.batch.failed || 0} failed · `, h("a", { href: "#/jobs", onclick: () => filterBatch(job.id) },
        "this batch's jobs")) : "");
  }
  async function refresh() { job = (await api(path)).job; draw(); }
  render(h("h1", {}, `Job ${job.id}`), h("p", { class: "muted" }, `${short(job.kind, "JOB_KIND_").toLowerCase()} · created ${when(job.createTime)}`),
    status, extra, h("h2", {}, "Timeline"), timeline);
  draw();
  // The timeline so far, then the live stream from just after its last event: nothing missed or shown twice.
  const past = await api(`${path}/events?pageSize=1000`);
  timeline.append(...(past.events || []).map(eventLine));
  const last = (past.events || []).length ? past.events[past.events.length - 1].sequence : "0";
  if (TERMINAL.includes(stateOf(job)) && last !== "0") return;
  const source = new EventSource(`${path}/events?lastEventId=${last}`);
  source.addEventListener("snapshot", (message) => { job = JSON.parse(message.data); draw(); });
  source.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    timeline.append(eventLine(event));
    Object.assign(job, { state: event.state, step: event.step, percent: event.percent, message: event.message,
      estimatedCompletionTime: event.estimatedCompletionTime || job.estimatedCompletionTime });
    if ((event.assets || []).length) job.assets = event.assets;
    draw();
    if (["EVENT_TYPE_AWAITING_REVIEW", "EVENT_TYPE_REVIEWED", "EVENT_TYPE_COMPLETED", "EVENT_TYPE_FAILED"].includes(event.type))
      refresh().catch(showError);
    if (TERMINAL.includes(stateOf(event))) source.close();
  });
  onLeave(() => source.close());
}
