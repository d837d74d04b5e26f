// Entry point of the demo page (bundled by plugin.ts). Pick a demo user, get
// a token from the dev-only endpoint (a real host's backend would mint it
// with its API key: POST /v1/tokens), then hand over to the chat. Which user
// this tab is stays in sessionStorage, so a reload resumes the same session.
import { ChatApp } from './chat.ts';
import { avatar, byId, displayName, h } from './dom.ts';
import { setupPush } from './push.ts';

/** The demo tenant's users (created by src/demo/seed.ts on the first start). */
const DEMO_USERS = ['alice', 'bob', 'carol'] as const;
const USER_KEY = 'herald-demo:user';

interface TokenReply {
  access_token?: string;
  error?: { code?: string; message?: string };
}

async function devToken(user: string): Promise<string> {
  const res = await fetch('/v1/dev/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: user }),
  });
  const body = (await res.json().catch(() => ({}))) as TokenReply;
  if (!res.ok || !body.access_token) {
    const why = body.error?.message ?? `HTTP ${res.status}`;
    throw new Error(
      res.status === 404 ? `The dev token endpoint is off (HERALD_DEV_TOKENS=true turns it on). ${why}` : why,
    );
  }
  return body.access_token;
}

/** A stable device id per tab and user: a reload is the same device, not a new one. */
function deviceId(user: string): string {
  const key = `herald-demo:device:${user}`;
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = `web-${Math.random().toString(36).slice(2, 12)}`;
    sessionStorage.setItem(key, id);
  }
  return id;
}

function showLogin(error?: string): void {
  byId('chat').hidden = true;
  const login = byId('login');
  login.hidden = false;
  byId('login-users').replaceChildren(
    ...DEMO_USERS.map((u) =>
      h(
        'button',
        { type: 'button', class: 'login-user', 'data-testid': `login-${u}`, onclick: () => void start(u) },
        avatar(u),
        displayName(u),
      ),
    ),
  );
  const err = byId('login-error');
  err.hidden = !error;
  err.textContent = error ?? '';
}

async function start(user: string): Promise<void> {
  let token: string;
  try {
    token = await devToken(user);
  } catch (err) {
    sessionStorage.removeItem(USER_KEY);
    showLogin(err instanceof Error ? err.message : String(err));
    return;
  }
  sessionStorage.setItem(USER_KEY, user);
  byId('login').hidden = true;
  document.title = `${displayName(user)} · Herald demo`;
  setupPush(() => devToken(user));
  new ChatApp({
    user,
    people: DEMO_USERS,
    url: location.origin,
    token,
    getToken: () => devToken(user),
    deviceId: deviceId(user),
    onSwitchUser: () => {
      sessionStorage.removeItem(USER_KEY);
      location.reload();
    },
  });
}

const saved = sessionStorage.getItem(USER_KEY);
if (saved && (DEMO_USERS as readonly string[]).includes(saved)) void start(saved);
else showLogin();
