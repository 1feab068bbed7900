// Installs the courier pages' service worker (offline page); the pages work without it.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/courier/sw.js", { scope: "/courier" }).catch(() => {});
}
