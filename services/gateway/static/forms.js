// Submit (image and video jobs), batches (aggregate progress, cancel, retry failed) and stats.
import { api, bar, h, render, short, showError, stateOf, TERMINAL, toast } from "./app.js";
import { filterBatch } from "./jobs.js";

function input(id, label, attrs = {}) {
  return h("div", {}, h("label", { for: id }, label), h("input", { id, name: id, ...attrs }));
}

export async function submitPage() {
  const kind = h("select", { id: "kind", name: "kind" }, h("option", { value: "image" }, "image"),
    h("option", { value: "video" }, "video"));
  const form = h("form", { class: "grid", onsubmit: async (event) => {
    event.preventDefault();
    const d = Object.fromEntries(new FormData(form).entries());
    const params = { prompt: d.prompt, negativePrompt: d.negativePrompt, style: d.style };
    for (const key of ["width", "height"]) if (d[key]) params[key] = Number(d[key]);
    if (d.seed) params.seed = d.seed;
    if (d.kind === "video" && d.duration) params.durationSeconds = Number(d.duration);
    const labels = Object.fromEntries(d.labels.split(",").map((l) => l.trim().split("=")).filter((p) => p.length === 2 && p[0]));
    const body = { spec: { kind: `JOB_KIND_${d.kind.toUpperCase()}`, [d.kind]: params }, labels, review: d.review === "on" };
    try {
      const job = await api("/v1/jobs", { method: "POST", body });
      toast(`submitted ${job.id}`);
      location.hash = "#/jobs";
    } catch (err) { showError(err); }
  } },
  h("div", {}, h("label", { for: "kind" }, "Kind"), kind),
  h("div", {}, h("label", { for: "prompt" }, "Prompt"), h("textarea", { id: "prompt", name: "prompt", rows: 3, required: true })),
  input("negativePrompt", "Negative prompt"), input("style", "Style"),
  input("width", "Width", { type: "number", min: 64, max: 2048 }), input("height", "Height", { type: "number", min: 64, max: 2048 }),
  input("seed", "Seed", { type: "number" }), input("duration", "Video seconds", { type: "number", min: 1, max: 30, step: "0.5" }),
  input("labels", "Labels (k=v, …)"),
  h("div", {}, h("label", { for: "review" }, h("input", { id: "review", name: "review", type: "checkbox" }), " Stop for review")),
  h("div", {}, h("button", { type: "submit" }, "Submit")));
  render(h("h1", {}, "Submit a job"), form);
  form.querySelector("#prompt").focus();
}

function summary(batch) {
  const b = batch.batch || {};
  const parts = ["completed", "running", "pending", "failed", "cancelled", "awaitingReview", "paused"]
    .filter((k) => b[k]).map((k) => `${b[k]} ${k}`);
  return `${parts.join(" · ") || "no jobs yet"} of ${b.total || 0} (attempt ${b.attempt || 1})`;
}

export async function batchesPage() {
  const page = await api("/v1/jobs?kind=BATCH&pageSize=50");
  const act = (batch, action, label) => h("button", { class: action === "cancel" ? "danger" : "plain", onclick: async () => {
    try { await api(`/v1/batches/${encodeURIComponent(batch.id)}/${action}`, { method: "POST", body: {} }); toast(`${label}: sent`); batchesPage(); }
    catch (err) { showError(err); }
  } }, label);
  const rows = (page.jobs || []).map((batch) => {
    const state = stateOf(batch);
    const b = batch.batch || {};
    const done = (b.completed || 0) + (b.failed || 0) + (b.cancelled || 0);
    const retry = TERMINAL.includes(state) && (b.failed || b.cancelled);
    return h("tr", { class: "row" },
      h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(batch.id)}` }, batch.id)),
      h("td", { class: `state s-${state}` }, state),
      h("td", {}, bar(b.total ? (100 * done) / b.total : batch.percent), h("span", { class: "muted" }, summary(batch))),
      h("td", {}, h("a", { href: "#/jobs", onclick: () => filterBatch(batch.id) }, "jobs"), " ",
        TERMINAL.includes(state) ? "" : act(batch, "cancel", "Cancel"), retry ? act(batch, "retry", "Retry failed") : ""));
  });
  render(h("h1", {}, "Batches"), rows.length ? h("table", { class: "jobs" },
    h("thead", {}, h("tr", {}, ["Batch", "State", "Progress", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
    : h("p", {}, "No batches yet. Submit one with `genmedia batch` or POST /v1/batches."));
}

const seconds = (d) => (d ? `${parseFloat(d).toFixed(1)} s` : "—");

export async function statsPage() {
  const s = await api("/v1/stats");
  const card = (title, value) => h("div", { class: "card" }, h("div", { class: "muted" }, title), h("strong", {}, value));
  render(h("h1", {}, "Stats (last 24 h)"), h("div", { class: "grid" },
    card("Jobs", s.totalJobs), card("Success rate", `${Math.round(100 * s.successRate)}%`),
    card("Backlog", s.backlog), card("Reviews approved", `${Math.round(100 * s.reviewApprovalRate)}% of ${s.reviews}`)),
  h("h2", {}, "Durations"), h("table", {}, h("tbody", {}, (s.kinds || []).map((k) => h("tr", {},
    h("td", {}, short(k.kind, "JOB_KIND_").toLowerCase()), h("td", {}, `${k.duration.count} jobs`),
    h("td", {}, `mean ${seconds(k.duration.mean)}`), h("td", {}, `p95 ${seconds(k.duration.p95)}`))))),
  h("h2", {}, "By state"), h("ul", {}, (s.counts || []).map((c) => h("li", {}, `${short(c.state, "JOB_STATE_")}: ${c.count}`))));
}
