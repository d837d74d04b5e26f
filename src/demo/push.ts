// Offline push for the demo page: a "Notify me" control that asks for notification
// permission, registers the service worker (push-sw.js), subscribes with Herald's VAPID key
// and registers the subscription as a device of the signed-in user (POST /v1/devices). With
// the tab closed, a message to this user then arrives as a notification (docs/push.md).
// A browser has one subscription per site: the last demo user to enable it receives them.

const SW_URL = '/demo/push-sw.js';

type TokenSource = () => Promise<string>;

async function api<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (!res.ok) throw new Error(json.error?.message ?? `HTTP ${res.status}`);
  return json;
}

function keyBytes(b64url: string): Uint8Array {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Subscribes this browser and registers it for the user; resolves with the device id. */
export async function enablePush(getToken: TokenSource): Promise<string> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window))
    throw new Error('This browser has no Web Push.');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications are blocked for this page.');
  const registration = await navigator.serviceWorker.register(SW_URL);
  await navigator.serviceWorker.ready;
  const token = await getToken();
  const { public_key } = await api<{ public_key: string }>(token, 'GET', '/v1/push/vapid-key');
  const subscription =
    (await registration.pushManager.getSubscription()) ??
    (await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(public_key) as BufferSource,
    }));
  const json = subscription.toJSON() as { endpoint: string; keys: { p256dh: string; auth: string } };
  const { device } = await api<{ device: { id: string } }>(token, 'POST', '/v1/devices', {
    platform: 'webpush',
    subscription: { endpoint: json.endpoint, keys: json.keys },
    locale: navigator.language,
  });
  return device.id;
}

/** Adds the control to the page; re-registers silently when permission was given before. */
export function setupPush(getToken: TokenSource): void {
  if (typeof window === 'undefined' || !('Notification' in window)) return;
  const box = document.createElement('div');
  box.className = 'push-control';
  box.setAttribute('data-testid', 'push-control');
  box.style.cssText =
    'position:fixed;bottom:12px;right:12px;z-index:10;font:13px system-ui;background:#fff;' +
    'border:1px solid #ccd;border-radius:8px;padding:6px 10px;box-shadow:0 1px 4px #0002';
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = 'Notify me when the tab is closed';
  const status = document.createElement('span');
  status.style.marginLeft = '8px';
  const run = async () => {
    button.disabled = true;
    status.textContent = 'Enabling…';
    try {
      await enablePush(getToken);
      status.textContent = 'Notifications on: close the tab and have someone write to you.';
      button.hidden = true;
    } catch (err) {
      status.textContent = err instanceof Error ? err.message : String(err);
      button.disabled = false;
    }
  };
  button.addEventListener('click', () => void run());
  box.append(button, status);
  document.body.append(box);
  if (Notification.permission === 'granted') void run();
}
