// The camera app: the models of one run, in MediaPipe Tasks for Web's ImageClassifier
// (the C++ tasks core of MediaPipe's Android sample, compiled to WebAssembly), on the
// camera and on photos. app.json (written by poets/apps/camera_app.py) says which models,
// labels, threshold and runtime; nothing here is specific to one run.
//
// One state object holds what the page knows. Checks read window.poetsApp.snapshot(): a copy of
// what a person sees, never the state itself: {ready, last, results, frames, variant, threshold,
// camera, error, runtime, offline}. ready once a model is loaded; last, the latest camera frame's
// {categories: [{label, score}], ms, sure}; results, one {name, categories, ms, sure} per photo
// given; frames, the count classified.

import { byId as $, answerText, categoriesOf, isSure, percent } from "./common.mjs";

const state = {
  ready: false, last: null, results: [], frames: 0, variant: null, threshold: null, camera: "off", error: null,
  runtime: null, offline: null,
  // The page's own: app.json, the runtime, the two classifiers, the camera, the photos given ({name, url, bitmap}).
  config: null, vision: null, fileset: null, videoClassifier: null, photoClassifier: null,
  stream: null, lastVideoTime: -1, lastStamp: 0, frameTimes: [], photos: [],
};
const SHOWN = ["ready", "last", "results", "frames", "variant", "threshold", "camera", "error", "runtime", "offline"];
window.poetsApp = Object.freeze({
  snapshot: () => structuredClone(Object.fromEntries(SHOWN.map((key) => [key, state[key]]))),
});

function say(kind, text, where = "status") {
  const status = $(where);
  status.textContent = text;
  status.className = kind;
  status.hidden = !text;
  if (kind === "error") state.error = text;
}

// The runtime's files, fetched with the sha384 pinned in app.json: the browser refuses a
// file that differs (subresource integrity), from the CDN or from a local copy alike.
async function pinned(base, path) {
  const url = new URL(`${base}/${path}`, location.href).href;
  let response;
  try {
    response = await fetch(url, {integrity: state.config.runtime.files[path], mode: "cors"});
  } catch {
    throw new Error(`cannot load ${url}: the network is unreachable (offline?) or the file is not ` +
                    `${state.config.runtime.package} ${state.config.runtime.version} (its sha384 differs)`);
  }
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  const type = path.endsWith(".wasm") ? "application/wasm" : "text/javascript";
  return URL.createObjectURL(new Blob([await response.arrayBuffer()], {type}));
}

async function loadRuntime() {
  // ?runtime=PATH serves the runtime from the page's own origin (poets-app --web-runtime); an exported
  // app carries its copy (app.json's runtime_path).
  const base = (new URLSearchParams(location.search).get("runtime") || state.config.runtime_path ||
                state.config.runtime.cdn).replace(/\/$/, "");
  try {
    state.vision = await import(await pinned(base, "vision_bundle.mjs"));
    const flavour = await state.vision.FilesetResolver.isSimdSupported() ? "" : "_nosimd";
    state.fileset = {
      wasmLoaderPath: await pinned(base, `wasm/vision_wasm${flavour}_internal.js`),
      wasmBinaryPath: await pinned(base, `wasm/vision_wasm${flavour}_internal.wasm`),
    };
  } catch (error) {
    state.runtime = "unreachable";
    throw new Error(`The MediaPipe runtime did not load: ${error.message}. Without internet, serve a local copy: ` +
                    `npm install ${state.config.runtime.package}@${state.config.runtime.version}, then ` +
                    `poets-app --web-runtime node_modules/${state.config.runtime.package}`);
  }
  state.runtime = base;
}

function sure(categories) {
  return isSure(categories, state.threshold);
}

async function useVariant(name) {
  const variant = state.config.variants.find((v) => v.name === name);
  state.ready = false;
  $("variant").disabled = true;
  say("info", `Loading ${variant.name} (${(variant.size_bytes / 1e6).toFixed(1)} MB)…`);
  for (const classifier of [state.videoClassifier, state.photoClassifier]) classifier?.close();
  const options = (runningMode) => ({baseOptions: {modelAssetPath: variant.model}, runningMode, maxResults: 3});
  try {
    state.videoClassifier = await state.vision.ImageClassifier.createFromOptions(state.fileset, options("VIDEO"));
    state.photoClassifier = await state.vision.ImageClassifier.createFromOptions(state.fileset, options("IMAGE"));
  } catch (error) {
    say("error", `The model ${variant.model} did not load: ${error.message}`);
    return;
  }
  state.variant = variant.name;
  state.frames = 0;
  state.frameTimes = [];
  $("variant").disabled = false;
  say("", "");
  state.ready = true;
  await classifyPhotos();  // the same photos, by the model now chosen
}

function showCategories(list, categories, isSure) {
  list.replaceChildren(...categories.map((c, i) => {
    const item = document.createElement("li");
    const bar = document.createElement("span");
    bar.className = "bar" + (i === 0 && !isSure ? " unsure" : "");
    bar.style.width = percent(c.score);
    item.append(bar, `${c.label} ${percent(c.score)}`);
    return item;
  }));
}

function classifyFrame() {
  const video = $("video");
  if (!state.stream || !state.ready) return;
  if (video.readyState >= 2 && video.currentTime !== state.lastVideoTime) {
    state.lastVideoTime = video.currentTime;
    const started = performance.now();
    // VIDEO mode wants timestamps that always increase.
    state.lastStamp = Math.max(started, state.lastStamp + 1);
    const categories = categoriesOf(state.videoClassifier.classifyForVideo(video, state.lastStamp));
    const ms = performance.now() - started;
    state.last = {categories, ms, sure: sure(categories)};
    state.frames += 1;
    state.frameTimes.push(performance.now());
    state.frameTimes = state.frameTimes.filter((t) => t > performance.now() - 1000);
    showFrame();
    $("speed").textContent = `${ms.toFixed(1)} ms a frame · ${state.frameTimes.length} frames a second · ${state.variant}`;
  }
}

function showFrame() {
  const {categories, sure: isSure} = state.last;
  $("answer").textContent = answerText(categories, isSure);
  $("answer").className = isSure ? "" : "unsure";
  showCategories($("top"), categories, isSure);
}

function nextFrame() {
  if (!state.stream) return;
  const video = $("video");
  const again = () => { classifyFrame(); nextFrame(); };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(again);
  else requestAnimationFrame(again);
}

async function listCameras() {
  const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const current = state.stream?.getVideoTracks()[0]?.getSettings().deviceId;
  $("camera").replaceChildren(...cameras.map((d, i) => new Option(d.label || `camera ${i + 1}`, d.deviceId,
                                                                    false, d.deviceId === current)));
  $("camera-choice").hidden = cameras.length < 2;
}

function stopCamera() {
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  state.camera = "off";
  $("camera-toggle").textContent = "Start the camera";
}

async function startCamera(deviceId) {
  stopCamera();
  if (!navigator.mediaDevices?.getUserMedia) {
    state.camera = "insecure";
    say("error", window.isSecureContext ? "This browser gives no access to a camera; photos still work below."
      : `The browser allows the camera only over HTTPS or on localhost, and this page is ${location.origin}. ` +
        "On a phone: serve it with poets-app --lan and scan its QR code, or adb reverse tcp:PORT tcp:PORT and " +
        "open http://localhost:PORT, or put this folder on any " +
        "HTTPS host (it is static files). Photos still work below.", "camera-status");
    return;
  }
  const video = deviceId ? {deviceId: {exact: deviceId}} : {facingMode: {ideal: "environment"}};
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({video, audio: false});
  } catch (error) {
    const refused = error.name === "NotAllowedError" || error.name === "SecurityError";
    const absent = error.name === "NotFoundError" || error.name === "OverconstrainedError";
    state.camera = refused ? "refused" : absent ? "absent" : "failed";
    say("error", refused ? "The camera was refused. Allow it in the browser's site settings and reload; photos still work below."
      : absent ? "No camera was found. Photos still work below: choose them or drop them on the page."
      : `The camera did not start (${error.name}: ${error.message}). Photos still work below.`, "camera-status");
    return;
  }
  state.camera = "on";
  say("", "", "camera-status");
  $("camera-toggle").textContent = "Stop the camera";
  $("video").srcObject = state.stream;
  await $("video").play();
  await listCameras();
  nextFrame();
}

async function classifyPhotos() {
  if (!state.ready) return;
  state.results = [];
  for (const photo of state.photos) {
    const started = performance.now();
    const categories = categoriesOf(state.photoClassifier.classify(photo.bitmap));
    const result = {name: photo.name, categories, ms: performance.now() - started, sure: sure(categories)};
    state.results.push(result);
    showPhoto(photo, result);
  }
}

function showPhoto(photo, result) {
  let item = photo.item;
  if (!item) {
    item = photo.item = document.createElement("li");
    const image = document.createElement("img");
    image.src = photo.url;
    image.alt = photo.name;
    const caption = document.createElement("p");
    const list = document.createElement("ol");
    item.append(image, caption, list);
    $("photos").append(item);
  }
  const [, caption, list] = item.children;
  caption.textContent = `${answerText(result.categories, result.sure)} · ${result.ms.toFixed(0)} ms`;
  caption.title = photo.name;
  caption.className = result.sure ? "" : "unsure";
  showCategories(list, result.categories, result.sure);
}

async function addPhotos(files) {
  const skipped = [];
  for (const file of files) {
    try {
      // Decoded as the file stores it, as MediaPipe's Python mp.Image does, but upright.
      const bitmap = await createImageBitmap(file, {colorSpaceConversion: "none", imageOrientation: "from-image"});
      state.photos.push({name: file.name, url: URL.createObjectURL(file), bitmap});
    } catch {
      skipped.push(file.name);
    }
  }
  if (skipped.length) say("error", `Not photos this browser can read: ${skipped.join(", ")}`);
  await classifyPhotos();
}

function setThreshold(value) {
  state.threshold = Number(value);
  $("threshold").value = value;
  $("threshold-value").textContent = percent(state.threshold);
  // The answers on screen follow at once, the camera's too: a paused or slow camera brings no new frame.
  if (state.last) {
    state.last.sure = sure(state.last.categories);
    showFrame();
  }
  for (const result of state.results) result.sure = sure(result.categories);
  state.photos.forEach((photo, i) => state.results[i] && showPhoto(photo, state.results[i]));
}

// How many test photos --label-fixes relabelled or excluded: the promise beside every test figure.
function editedTestLabels() {
  const edits = state.config.test_labels_edited;
  return edits ? edits.relabelled + edits.excluded : 0;
}

function describe() {
  const shipped = state.config.variants.find((v) => v.name === state.config.shipped) ?? state.config.variants[0];
  document.title = `Camera: ${state.config.title}`;
  $("title").textContent = state.config.title;
  $("subtitle").textContent = `${state.config.labels.length} classes: ${state.config.labels.join(", ")}`;
  $("variant").replaceChildren(...state.config.variants.map((v) => {
    const edited = editedTestLabels() ? " (test labels edited)" : "";
    const accuracy = v.accuracy == null ? "" : ` · ${percent(v.accuracy)} on the test photos${edited}`;
    const label = `${v.name}${v.name === state.config.shipped ? " (ships)" : ""} · ${(v.size_bytes / 1e6).toFixed(1)} MB${accuracy}`;
    return new Option(label, v.name, false, v === shipped);
  }));
  const edits = editedTestLabels();
  $("edited").hidden = !edits;
  $("edited").textContent = edits ? `Test labels edited: ${edits} (${state.config.test_labels_edited.relabelled} ` +
    `relabelled, ${state.config.test_labels_edited.excluded} excluded by --label-fixes); the accuracies are not ` +
    "comparable with the published split." : "";
  const sureAbove = state.config.sure_above;
  if (sureAbove?.threshold != null) {
    $("threshold-note").textContent = `Default: on ${sureAbove.photos} held-out photos, answers at ` +
      `${percent(sureAbove.threshold)} or more were right ${percent(sureAbove.precision)} of the time ` +
      `(${percent(sureAbove.coverage)} of them scored that high).`;
    setThreshold(sureAbove.threshold.toFixed(2));
  } else {
    $("threshold-note").textContent = `No threshold reached ${percent(sureAbove?.aimed_precision ?? 0.9)} ` +
      "precision on the held-out photos; 50% by default.";
    setThreshold("0.5");
  }
  return shipped.name;
}

function wire() {
  $("variant").addEventListener("change", (event) => useVariant(event.target.value));
  $("camera").addEventListener("change", (event) => startCamera(event.target.value));
  $("camera-toggle").addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
  $("threshold").addEventListener("input", (event) => setThreshold(event.target.value));
  $("files").addEventListener("change", (event) => addPhotos([...event.target.files]));
  document.addEventListener("dragover", (event) => { event.preventDefault(); $("drop").classList.add("over"); });
  document.addEventListener("dragleave", () => $("drop").classList.remove("over"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    $("drop").classList.remove("over");
    addPhotos([...event.dataTransfer.files]);
  });
}

async function main() {
  try {
    const response = await fetch("app.json");
    if (!response.ok) throw new Error(`app.json: HTTP ${response.status}`);
    state.config = await response.json();
  } catch (error) {
    say("error", `This page's app.json did not load (${error.message}). Serve the folder with poets-app ` +
                 "rather than opening the file itself.");
    return;
  }
  const first = describe();
  wire();
  try {
    await loadRuntime();
  } catch (error) {
    say("error", error.message);
    return;
  }
  await useVariant(first);
  $("camera-toggle").disabled = false;
  keepOffline();
  if (state.ready) await startCamera();
}

// An exported app (its offline.json lists every file) keeps itself for offline use, where the browser
// allows a service worker (HTTPS, or localhost). state.offline: "kept" once every file is in the cache.
async function keepOffline() {
  if (!state.config.runtime_path || !("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("sw.js");
    const { version, files } = await (await fetch("offline.json")).json();
    await navigator.serviceWorker.ready;
    const cache = await caches.open(`poets-app-${version}`);
    const kept = await Promise.all(files.map((file) => cache.match(file, { ignoreSearch: true })));
    state.offline = kept.every(Boolean) ? "kept" : "partly";
  } catch (error) {
    state.offline = `not kept: ${error.message}`;
  }
}

main();
