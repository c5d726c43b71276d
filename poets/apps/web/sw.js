// The camera app's service worker, in an exported app only (poets-app --export): it keeps every file
// the page loads (offline.json lists them: the page, app.json, the models, the pinned runtime, the
// manifest and its icons) in a cache named by their digest, and answers from it first, so the app
// works with the network off once opened from a trusted origin (HTTPS, or localhost).

const listed = () => fetch("offline.json", { cache: "no-store" }).then((response) => response.json());

self.addEventListener("install", (event) => {
  event.waitUntil(listed().then(async ({ version, files }) => {
    const cache = await caches.open(`poets-app-${version}`);
    await cache.addAll(files);
    await self.skipWaiting();
  }));
});

self.addEventListener("activate", (event) => {
  // Another version's files go: a new export is a new cache.
  event.waitUntil(listed().then(async ({ version }) => {
    for (const name of await caches.keys()) {
      if (name.startsWith("poets-app-") && name !== `poets-app-${version}`) await caches.delete(name);
    }
    await self.clients.claim();
  }));
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith(caches.match(event.request, { ignoreSearch: true })
    .then((kept) => kept || fetch(event.request)));
});
