// node --test tests/web: the pages' pure functions (poets/apps/web/common.mjs), without a browser.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  EXCLUDE, answerText, categoriesOf, csvField, fixesCsv, isSure, percent, photoUrl,
} from "../../poets/apps/web/common.mjs";

test("categoriesOf names each category by its name, else its display name, else its index", () => {
  const result = { classifications: [{ categories: [
    { categoryName: "roses", score: 0.7, index: 1 }, { displayName: "Daisy", score: 0.2, index: 0 },
    { score: 0.1, index: 2 }] }] };
  assert.deepEqual(categoriesOf(result), [
    { label: "roses", score: 0.7 }, { label: "Daisy", score: 0.2 }, { label: "2", score: 0.1 }]);
  assert.deepEqual(categoriesOf({ classifications: [] }), []);
});

test("an answer below the threshold is not sure, and says what it would be", () => {
  const categories = [{ label: "roses", score: 0.55 }];
  assert.equal(isSure(categories, 0.5), true);
  assert.equal(isSure(categories, 0.6), false);
  assert.equal(isSure([], 0), false);
  assert.equal(answerText(categories, false), "not sure (roses?)");
  assert.equal(answerText(categories, true), "roses");
  assert.equal(answerText([], true), "");
  assert.equal(percent(0.555), "56%");
});

test("a photo's URL escapes each part of its path, not the slashes", () => {
  assert.equal(photoUrl("daisy/a b#1.jpg"), "photos/daisy/a%20b%231.jpg");
});

test("the fixes file holds only changes from the folder's label, earlier fixes kept, quoted as CSV", () => {
  const items = [{ path: "daisy/1.jpg", folder: "daisy" }, { path: "daisy/2.jpg", folder: "daisy" },
    { path: "roses/3.jpg", folder: "roses" }];
  const decisions = { "daisy/1.jpg": "roses", "daisy/2.jpg": "daisy", "roses/3.jpg": EXCLUDE };
  assert.equal(fixesCsv(items, decisions, { "tulips/9.jpg": "daisy" }),
    "path,label\ndaisy/1.jpg,roses\nroses/3.jpg,exclude\ntulips/9.jpg,daisy\n");
  // Choosing the folder's class again takes an earlier fix of that photo out.
  assert.equal(fixesCsv(items, { "daisy/1.jpg": "daisy" }), "path,label\n");
  assert.equal(csvField('a,"b"'), '"a,""b"""');
});
