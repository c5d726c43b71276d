// The review page: each flagged photo once, decided with the keyboard; the decisions are kept in the
// browser's local storage (they survive a reload) and saved as the run's --label-fixes CSV.
// review.json (poets/apps/review.py) gives the photos, the classes, where the fixes go and the next command.

import { EXCLUDE, byId as $, fixesCsv, photoUrl } from "./common.mjs";

// One state object holds what the page knows; checks read window.poetsReview.snapshot(), a copy of what a
// person sees (never the state itself).
const state = {
  ready: false, error: null, saved: null,
  items: [], classes: [], decisions: {}, others: {}, index: 0, pending: null, key: "", token: "",
};
window.poetsReview = Object.freeze({ snapshot });

function decidedCount() {
  return state.items.filter((item) => item.path in state.decisions).length;
}

function snapshot() {
  return structuredClone({
    ready: state.ready, error: state.error, saved: state.saved, classes: state.classes,
    total: state.items.length, decided: decidedCount(), index: state.index,
    current: state.items[state.index] ?? null, pending: state.pending, csv: csv(),
  });
}

// The fixes file as Save writes it (common.mjs's fixesCsv).
function csv() {
  return fixesCsv(state.items, state.decisions, state.others);
}

// The decisions survive a reload: they are kept in this browser's local storage under the run's id.
function remember() {
  localStorage.setItem(state.key, JSON.stringify(state.decisions));
}

function said(label, item) {
  if (label === undefined) return "Not decided yet.";
  if (label === EXCLUDE) return "Decided: exclude it from every split.";
  return label === item.label ? `Decided: keep ${label}.` : `Decided: relabel as ${label}.`;
}

function figure(path, caption) {
  const box = document.createElement("figure");
  const image = document.createElement("img");
  image.src = photoUrl(path);
  image.alt = path;
  image.loading = "lazy";
  const text = document.createElement("figcaption");
  text.textContent = caption;
  box.append(image, text);
  return box;
}

function choice(text, label, item) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.dataset.label = label;
  if (state.decisions[item.path] === label) button.classList.add("chosen");
  if (label === item.suggested) button.classList.add("suggested");
  button.addEventListener("click", () => decide(label));
  li.append(button);
  return li;
}

function renderChoices(item) {
  const list = $("choices");
  list.replaceChildren(choice(`Enter: keep ${item.label}`, item.label, item));
  state.classes.forEach((label, i) => {
    if (label === item.label) return;
    const key = i < 9 ? `${i + 1}: ` : "";
    const hint = label === item.suggested ? " (suggested: s)" : "";
    list.append(choice(`${key}${label}${hint}`, label, item));
  });
  list.append(choice("x: exclude from every split", EXCLUDE, item));
}

function renderStrip(panel, title, paths, caption) {
  $(`${panel}-title`).textContent = paths.length ? title : "";
  $(panel).replaceChildren(...paths.map((path) => figure(path, caption(path))));
}

function render() {
  const total = state.items.length;
  const decided = decidedCount();
  $("progress").textContent = `${decided} of ${total} decided` + (total ? ` \u00b7 photo ${state.index + 1}` : "");
  $("done").style.width = total ? `${(100 * decided) / total}%` : "100%";
  if (!total) return;
  const item = state.items[state.index];
  const reasons = { label: "Label looks wrong", duplicate: "Duplicates", off_topic: "Off-topic" };
  $("group").textContent = reasons[item.reasons[0].reason] || item.reasons[0].reason;
  $("image").src = photoUrl(item.path);
  $("image").alt = item.path;
  const test = item.split === "testing" ? " \u00b7 a TEST photo" : "";
  const fixed = item.label !== item.folder ? ` (by your fixes; its folder says ${item.folder})` : "";
  $("caption").textContent = `${item.path} \u00b7 labelled ${item.label}${fixed} \u00b7 ${item.split}${test}`;
  $("why").replaceChildren(...item.reasons.map((reason) => {
    const li = document.createElement("li");
    li.textContent = reason.why || reason.reason;
    return li;
  }));
  const pending = state.pending && state.pending.path === item.path;
  $("warning").hidden = !pending;
  $("decision").textContent = said(state.decisions[item.path], item);
  renderChoices(item);
  renderStrip("twins", "Its duplicates", item.twins, (path) => path);
  renderStrip("nearest", `The nearest photos of ${item.nearest_class}`, item.nearest, (path) => path);
}

function move(step) {
  const total = state.items.length;
  state.index = Math.min(total - 1, Math.max(0, state.index + step));
  state.pending = null;
  render();
}

function nextUndecided() {
  const total = state.items.length;
  for (let step = 1; step <= total; step++) {
    const i = (state.index + step) % total;
    if (!(state.items[i].path in state.decisions)) return i;
  }
  return Math.min(state.index + 1, total - 1);
}

// A test photo relabelled or excluded changes the test figures: the first press warns, the second decides.
function decide(label) {
  const item = state.items[state.index];
  if (!item || label === undefined || label === "") return;
  const changesTest = item.split === "testing" && label !== item.label;
  const confirmed = state.pending && state.pending.path === item.path && state.pending.label === label;
  if (changesTest && !confirmed) {
    state.pending = { path: item.path, label };
    $("warning").textContent = `This is a test photo: ${label === EXCLUDE ? "excluding it" : `relabelling it ${label}`}` +
      " changes the test figures, and the report will say they are not comparable with the published split." +
      " Press again to confirm.";
    render();
    return;
  }
  state.pending = null;
  state.decisions[item.path] = label;
  state.index = nextUndecided();
  remember();
  render();
}

function undecide() {
  delete state.decisions[state.items[state.index].path];
  remember();
  render();
}

function onKey(event) {
  if (event.altKey || event.ctrlKey || event.metaKey || event.target.tagName === "INPUT") return;
  const item = state.items[state.index];
  if (!item) return;
  const digit = /^[1-9]$/.test(event.key) ? Number(event.key) - 1 : -1;
  const actions = {
    ArrowRight: () => move(1), ArrowLeft: () => move(-1), Enter: () => decide(item.label), k: () => decide(item.label),
    s: () => decide(item.suggested), x: () => decide(EXCLUDE), u: () => undecide(),
  };
  if (digit >= 0 && digit < state.classes.length) decide(state.classes[digit]);
  else if (actions[event.key]) actions[event.key]();
  else return;
  event.preventDefault();
}

async function save() {
  $("saved").textContent = "Saving\u2026";
  try {
    const response = await fetch("fixes", {
      method: "POST", body: csv(), headers: { "Content-Type": "text/csv", "X-Poets-Token": state.token },
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    $("saved").textContent = `Saved ${answer.fixes} fixes into ${answer.path}.`;
    $("next").hidden = false;
    state.saved = answer;
  } catch (error) {
    $("saved").textContent = `Not saved: ${error.message}`;
    state.error = error.message;
  }
}

function download() {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csv()], { type: "text/csv" }));
  link.download = "label_fixes.csv";
  link.click();
  URL.revokeObjectURL(link.href);
}

// The file's fixes first (a kept label is not in it), then this browser's decisions over them.
function restore(review) {
  const flagged = new Set(review.items.map((item) => item.path));
  for (const [path, label] of Object.entries(review.saved || {})) {
    if (flagged.has(path)) state.decisions[path] = label;
    else state.others[path] = label;
  }
  Object.assign(state.decisions, JSON.parse(localStorage.getItem(state.key) || "{}"));
}

async function start() {
  try {
    const response = await fetch("review.json", { cache: "no-store" });
    const review = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(review.error || `review.json: ${response.status} ${response.statusText}`);
    Object.assign(state, {
      items: review.items, classes: review.classes, key: `poets-review:${review.id}`, token: review.token,
    });
    restore(review);
    $("command").textContent = review.command;
    $("save").textContent = `Save the decisions into ${review.out}`;
    $("main").hidden = !review.items.length;
    $("footer").hidden = false;
    if (!review.items.length) $("progress").textContent = "Nothing to check: no photo was flagged.";
    state.index = Math.max(0, review.items.findIndex((item) => !(item.path in state.decisions)));
    remember();
    render();
    document.addEventListener("keydown", onKey);
    $("save").addEventListener("click", save);
    $("download").addEventListener("click", download);
    state.ready = true;
  } catch (error) {
    // A server that answered says why; no answer at all means it has stopped.
    const stopped = error instanceof TypeError ? " Is poets-review still running?" : "";
    $("message").textContent = `The photos to check did not load: ${error.message}.${stopped}`;
    $("message").hidden = false;
    state.error = error.message;
  }
}

start();
