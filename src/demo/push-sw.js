// The demo page's service worker (served at /demo/push-sw.js): shows Herald's Web Push
// notifications while the tab is closed, and opens the chat when one is clicked. Herald
// only pushes when the user has no connected socket, so an open tab never gets one.
// The payload is src/push/providers/webpush.ts webPushPayload: {push_id, kind, title, body,
// badge, tag, data}.

/** What showNotification gets for a payload (exported to tests through `self.heraldNotification`). */
function heraldNotification(payload) {
  return {
    title: payload.title || 'Herald',
    options: {
      body: payload.body || '',
      // One notification per conversation: a newer push replaces the older one.
      tag: payload.tag || payload.push_id,
      renotify: true,
      data: { ...(payload.data || {}), push_id: payload.push_id, badge: payload.badge },
    },
  };
}
self.heraldNotification = heraldNotification;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = { title: 'Herald', body: event.data ? event.data.text() : '' };
  }
  const n = heraldNotification(payload);
  const badge = Number(payload.badge);
  const setBadge =
    self.navigator && 'setAppBadge' in self.navigator && Number.isFinite(badge)
      ? self.navigator.setAppBadge(badge).catch(() => {})
      : Promise.resolve();
  event.waitUntil(Promise.all([self.registration.showNotification(n.title, n.options), setBadge]));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((tabs) => {
      const tab = tabs.find((c) => new URL(c.url).pathname === '/');
      return tab ? tab.focus() : self.clients.openWindow('/');
    }),
  );
});
