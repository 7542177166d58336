// The POS screen's service worker: keeps the page and its files so a reload while offline still
// opens the screen. Network first (a deployed change shows at once when online), the cache when the
// network fails. Everything else (the API) is left to the network.
const CACHE = "retailcore-pos-shell-v1";
const SHELL = [
  "/pos",
  "/pos/static/app.js",
  "/pos/static/db.js",
  "/pos/static/exchange.js",
  "/pos/static/giftcards.js",
  "/pos/static/money.js",
  "/pos/static/pricing.js",
  "/pos/static/signout.js",
  "/pos/static/sync.js",
  "/pos/static/pos.css",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname !== "/pos" && !url.pathname.startsWith("/pos/static/")) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok && !response.redirected) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() => caches.match(url.pathname).then((cached) => cached || Response.error())),
  );
});
