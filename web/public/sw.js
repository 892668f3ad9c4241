// The app shell offline: the index page and the assets it names are cached when the worker
// installs, and every later build's assets as they are fetched. The API (/v1/) is never cached
// here: the app keeps today's data itself (IndexedDB) and queues its writes.
const SHELL = "handover-shell-v1";
const BASE = new URL("./", self.location.href).pathname; // "/app/"

async function cacheShell() {
  const cache = await caches.open(SHELL);
  const response = await fetch(BASE, { cache: "no-store" });
  if (!response.ok) return;
  const html = await response.clone().text();
  await cache.put(BASE, response);
  const named = [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
    .map((m) => new URL(m[1], self.location.href))
    .filter((u) => u.origin === self.location.origin && u.pathname.startsWith(BASE));
  await cache.addAll([...new Set(named.map((u) => u.pathname))]);
}

self.addEventListener("install", (event) => {
  event.waitUntil(cacheShell().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith(BASE)) return; // the API and everything else: straight through
  if (request.mode === "navigate") {
    // A screen: the newest index page when the network answers, the cached one when it does not.
    event.respondWith(
      fetch(request)
        .then(async (response) => {
          if (response.ok) (await caches.open(SHELL)).put(BASE, response.clone());
          return response;
        })
        .catch(async () => (await caches.match(BASE)) || Response.error()),
    );
    return;
  }
  event.respondWith(
    caches.match(request).then(
      (hit) =>
        hit ||
        fetch(request).then(async (response) => {
          if (response.ok && url.pathname.startsWith(BASE + "assets/")) {
            (await caches.open(SHELL)).put(request, response.clone());
          }
          return response;
        }),
    ),
  );
});
