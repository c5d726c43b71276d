// What both pages (the camera app and the review page) compute: pure functions, no side effects on
// import, so that `node --test` checks them without a browser (tests/web/).

export const EXCLUDE = "exclude";

// The element with this id (the pages' one DOM helper).
export const byId = (id) => document.getElementById(id);

export const percent = (score) => `${(100 * score).toFixed(0)}%`;

// [{label, score}] of a MediaPipe ImageClassifier result, best first.
export function categoriesOf(result) {
  const found = result.classifications[0]?.categories ?? [];
  return found.map((c) => ({ label: c.categoryName || c.displayName || String(c.index), score: c.score }));
}

// Whether the top label is sure enough to be given without a "not sure".
export function isSure(categories, threshold) {
  return categories.length > 0 && categories[0].score >= threshold;
}

export function answerText(categories, sure) {
  if (!categories.length) return "";
  return sure ? categories[0].label : `not sure (${categories[0].label}?)`;
}

// The URL of a photo under the review page's photos/, each part of its path escaped.
export function photoUrl(path) {
  return "photos/" + path.split("/").map(encodeURIComponent).join("/");
}

export function csvField(text) {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// The --label-fixes CSV of the review's decisions ({path: label}) on its items ([{path, folder}]),
// with `others` ({path: label}, fixes already in the file for photos no longer flagged) kept. Only what
// changes a label from its folder's: a kept folder label needs no line (and would move the run's ids for
// nothing), but a label the run has only by an earlier fix does.
export function fixesCsv(items, decisions, others = {}) {
  const changed = { ...others };
  for (const item of items) {
    const label = decisions[item.path];
    if (label !== undefined && label !== item.folder) changed[item.path] = label;
  }
  const lines = Object.keys(changed).sort().map((path) => `${csvField(path)},${csvField(changed[path])}`);
  return ["path,label", ...lines].join("\n") + "\n";
}
