// The console's core: the API helper (session cookie + CSRF header), the hash router, small DOM helpers.
import { jobsPage, jobPage } from "./jobs.js";
import { batchesPage, statsPage, submitPage } from "./forms.js";

export const session = { user: "", csrf: "" };
const main = () => document.getElementById("main");
let cleanup = [];

export class ApiError extends Error {
  constructor(status, body) { super(body.message || `HTTP ${status}`); this.status = status; this.body = body; }
}

export async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const response = await fetch(path, { method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// h("a", {href: "#"}, "text", child...): an element; attributes starting with "on" are listeners.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false)
    node.append(child instanceof Node ? child : String(child));
  return node;
}

export const short = (name, prefix) => (name || "").replace(prefix, "").replace(/^UNSPECIFIED$/, "—");
export const stateOf = (job) => short(job.state, "JOB_STATE_");
export const TERMINAL = ["COMPLETED", "FAILED", "CANCELLED"];
export function bar(percent) {
  return h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": Math.round(percent || 0) }, h("span", { style: `width:${Math.min(100, percent || 0)}%` }));
}
export function when(stamp) { return stamp ? new Date(stamp).toLocaleString() : ""; }
export function eta(stamp) {
  if (!stamp) return "";
  const seconds = Math.round((new Date(stamp) - Date.now()) / 1000);
  return seconds > 0 ? `about ${seconds}s left` : "finishing";
}

export function toast(message) {
  const node = document.getElementById("toast");
  node.textContent = message;
  setTimeout(() => { if (node.textContent === message) node.textContent = ""; }, 5000);
}
export function showError(err) { toast(err instanceof ApiError ? `${err.body.code || err.status}: ${err.message}` : String(err)); }

// Runs when the page is left (close event streams, timers).
export function onLeave(fn) { cleanup.push(fn); }

export function render(...nodes) {
  const root = main();
  root.replaceChildren(...nodes);
}

function loginPage(message) {
  const key = h("input", { id: "apikey", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    try {
      const answer = await api("/v1/session", { method: "POST", body: { apiKey: key.value } });
      Object.assign(session, { user: answer.user, csrf: answer.csrfToken, login: true });
      route();
    } catch (err) { showError(err); }
  } }, h("label", { for: "apikey" }, "API key"), key, " ", h("button", { type: "submit" }, "Log in"));
  render(h("h1", {}, "Log in"), message ? h("p", { class: "error" }, message) : null, form);
  key.focus();
}

async function ensureSession() {
  if (session.user) return true;
  try {
    const answer = await api("/v1/session");
    Object.assign(session, { user: answer.user, csrf: answer.csrfToken, login: answer.login });
    return true;
  } catch (err) {
    if (err.status === 401) { loginPage(""); return false; }
    throw err;
  }
}

function showWho() {
  const who = document.getElementById("who");
  const out = h("button", { class: "plain", onclick: async () => {
    await api("/v1/session", { method: "DELETE" }).catch(() => {});
    Object.assign(session, { user: "", csrf: "" });
    location.hash = "#/jobs";
    route();
  } }, "Log out");
  who.replaceChildren(`signed in as ${session.user} `, session.login ? out : "");
}

export async function route() {
  cleanup.forEach((fn) => fn());
  cleanup = [];
  try {
    if (!(await ensureSession())) return;
    showWho();
    const [, page, id] = (location.hash || "#/jobs").split("/");
    for (const link of document.querySelectorAll("nav a"))
      link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${page}`);
    if (link(page)) link(page).setAttribute("aria-current", "page");
    const views = { jobs: () => (id ? jobPage(decodeURIComponent(id)) : jobsPage()), batches: batchesPage,
      submit: submitPage, stats: statsPage };
    await (views[page] || jobsPage)();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { session.user = ""; loginPage(err.message); return; }
    render(h("p", { class: "error" }, `Could not load: ${err.message}`));
  }
}
const link = (page) => document.querySelector(`nav a[href="#/${page}"]`);

window.addEventListener("hashchange", route);
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const go = { j: "#/jobs", b: "#/batches", n: "#/submit", s: "#/stats" }[event.key];
  if (go) { location.hash = go; event.preventDefault(); }
});
route();
