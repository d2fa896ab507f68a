// The review panel: the candidates side by side, approve, or reject with corrections and feedback; the
// earlier rounds under it.
import { api, h, short, showError, stateOf, toast, when } from "./app.js";

function field(id, label, value, type = "text") {
  return [h("label", { for: id }, label), h("input", { id, name: id, type, value: value ?? "" })];
}

function roundLine(review) {
  const decision = short(review.decision, "REVIEW_DECISION_").toLowerCase();
  const fixes = Object.entries(review.corrections || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  return h("li", {}, `round ${review.round}: ${decision} by ${review.reviewer} ${when(review.time)}`,
    review.feedback ? ` — “${review.feedback}”` : "", fixes ? ` (corrections: ${fixes})` : "");
}

export function reviewSection(job, refresh) {
  const spec = (job.spec && (job.spec.image || job.spec.video)) || {};
  const path = `/v1/jobs/${encodeURIComponent(job.id)}`;
  const images = (job.assets || []).map((a, i) => [a, i]).filter(([a]) => a.mimeType.startsWith("image/"));
  const section = h("section", { "aria-labelledby": "review-title" },
    h("h2", { id: "review-title" }, `Review (round ${job.reviewRound || 1})`));
  const previous = h("ol", { class: "timeline", "aria-label": "previous rounds" }, (job.reviews || []).map(roundLine));
  if (stateOf(job) !== "AWAITING_REVIEW") {
    section.append(h("h3", {}, "Rounds"), previous);
    return section;
  }
  section.append(h("div", { class: "candidates" }, images.map(([asset, index]) => h("figure", {},
    h("img", { class: "preview candidate", src: `${path}/assets/${index}`, alt: `candidate ${index + 1}` }),
    h("figcaption", {}, `${asset.width}×${asset.height}`)))));
  const decide = async (body) => {
    try {
      await api(`${path}/review`, { method: "POST", body: { round: job.reviewRound, ...body } });
      toast("decision sent");
      await refresh();
    } catch (err) { showError(err); }
  };
  const form = h("form", { class: "grid", onsubmit: (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    const corrections = {};
    for (const key of ["prompt", "negativePrompt", "style"]) if (data[key] !== (spec[key] ?? "")) corrections[key] = data[key];
    for (const key of ["seed", "width", "height"]) if (data[key] !== "" && data[key] !== String(spec[key] ?? ""))
      corrections[key] = key === "seed" ? data[key] : Number(data[key]);
    decide({ decision: "REVIEW_DECISION_REJECT", feedback: data.feedback, corrections });
  } },
  h("div", {}, ...field("prompt", "Prompt", spec.prompt), ...field("negativePrompt", "Negative prompt", spec.negativePrompt)),
  h("div", {}, ...field("seed", "Seed", spec.seed, "number"), ...field("style", "Style", spec.style)),
  h("div", {}, ...field("width", "Width", spec.width, "number"), ...field("height", "Height", spec.height, "number")),
  h("div", {}, h("label", { for: "feedback" }, "Feedback"), h("textarea", { id: "feedback", name: "feedback", rows: 3 }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Reject with corrections"))));
  section.append(h("div", { class: "actions" }, h("button", { id: "approve", onclick: () =>
    decide({ decision: "REVIEW_DECISION_APPROVE", feedback: form.querySelector("#feedback").value }) }, "Approve")),
  form, h("h3", {}, "Previous rounds"), previous);
  return section;
}
