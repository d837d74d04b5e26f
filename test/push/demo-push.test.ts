// The demo page's push parts: the service worker is served and, run against a stand-in of
// the worker global, turns a Herald push payload into one notification per conversation and
// opens the chat on click; the page bundle carries the subscribe flow. (A real browser push
// needs the browser vendor's push service, which this machine must not reach.)
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoPlugin } from '../../src/demo/plugin.ts';
import { webPushPayload } from '../../src/push/providers/webpush.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

type Handler = (event: Record<string, unknown>) => void;

function loadWorker() {
  const handlers = new Map<string, Handler>();
  const shown: { title: string; options: Record<string, unknown> }[] = [];
  const opened: string[] = [];
  const focused: string[] = [];
  const tabs: { url: string; focus(): Promise<void> }[] = [];
  const self = {
    addEventListener: (type: string, fn: Handler) => handlers.set(type, fn),
    skipWaiting: () => Promise.resolve(),
    registration: {
      showNotification: async (title: string, options: Record<string, unknown>) => {
        shown.push({ title, options });
      },
    },
    clients: {
      claim: () => Promise.resolve(),
      matchAll: async () => tabs,
      openWindow: async (url: string) => {
        opened.push(url);
      },
    },
    navigator: {},
  };
  vm.runInNewContext(readFileSync(new URL('../../src/demo/push-sw.js', import.meta.url), 'utf8'), {
    self,
    URL,
    Number,
    Promise,
  });
  const fire = async (type: string, event: Record<string, unknown>) => {
    let waited: Promise<unknown> = Promise.resolve();
    handlers.get(type)?.({
      ...event,
      waitUntil: (p: Promise<unknown>) => {
        waited = p;
      },
    });
    await waited;
  };
  return { shown, opened, focused, tabs, fire };
}

describe('demo page push', () => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ plugins: [demoPlugin] });
  }, 60_000);
  afterAll(async () => t?.close());

  it('serves the service worker and a bundle that subscribes and registers the device', async () => {
    const sw = await t.call<string>({ method: 'GET', url: '/demo/push-sw.js' });
    expect(sw.status).toBe(200);
    expect(String(sw.headers['content-type'])).toMatch(/^text\/javascript/);
    const js = await t.call<string>({ method: 'GET', url: '/demo/app.js' });
    for (const part of ['/v1/push/vapid-key', '/v1/devices', '/demo/push-sw.js', 'requestPermission'])
      expect(js.body).toContain(part);
  });

  it('shows a pushed message as a notification, one per conversation, and opens the chat on click', async () => {
    const w = loadWorker();
    const payload = JSON.parse(
      webPushPayload({
        pushId: 'p1',
        kind: 'message',
        title: 'Team',
        body: 'alice: hi',
        badge: 3,
        collapseKey: 'conv-1',
        ttlSec: 60,
        data: { type: 'message', conversation_id: 'conv-1' },
      }),
    );
    await w.fire('push', { data: { json: () => payload, text: () => JSON.stringify(payload) } });
    expect(w.shown).toEqual([
      {
        title: 'Team',
        options: {
          body: 'alice: hi',
          tag: 'conv-1',
          renotify: true,
          data: { type: 'message', conversation_id: 'conv-1', push_id: 'p1', badge: 3 },
        },
      },
    ]);
    let closed = false;
    await w.fire('notificationclick', {
      notification: {
        close: () => {
          closed = true;
        },
      },
    });
    expect([closed, w.opened]).toEqual([true, ['/']]);
    // An open chat tab is focused instead of opening another.
    let focusedTab = false;
    w.tabs.push({
      url: 'http://127.0.0.1:8080/',
      focus: async () => {
        focusedTab = true;
      },
    });
    await w.fire('notificationclick', { notification: { close: () => {} } });
    expect([focusedTab, w.opened.length]).toEqual([true, 1]);
  });
});
