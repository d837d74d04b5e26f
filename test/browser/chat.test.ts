// The demo chat page in a real browser: Debian's chromium driven by
// playwright-core, against a real listening node (PGlite, demo tenant, dev
// tokens, the host's WebSocket gateway). Two browser contexts are two users, alice
// and bob, in the demo group. Every wait is a Playwright locator wait with a
// bounded timeout — no sleeps, no timed assertions.
//
// Locally the file is skipped when /usr/bin/chromium is missing; in CI
// (CI=true) a missing chromium fails it.
import { existsSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  throw new Error(`CI needs ${CHROMIUM} for the browser test (apt-get install -y chromium).`);
}

/** Upper bound for any one wait on the page. */
const WAIT = 15_000;

/**
 * Sits in front of the gateway on the HTTP server's 'upgrade' event: records
 * WebSocket connections so a test can cut them all (the network "drops"),
 * and refuses new ones while `blocked` (the network stays down).
 */
function outageSwitch(server: Server) {
  const sockets = new Set<Duplex>();
  let blocked = false;
  const listener = (_req: IncomingMessage, socket: Duplex) => {
    if (blocked) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  server.prependListener('upgrade', listener);
  return {
    down() {
      blocked = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      blocked = false;
    },
    remove() {
      server.off('upgrade', listener);
    },
  };
}

describe.skipIf(!haveChromium)('demo chat page in a browser', { timeout: 90_000 }, () => {
  let t: TestHerald;
  let network: ReturnType<typeof outageSwitch>;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    t = await startTestHerald({
      env: { HERALD_DEMO: 'true', HERALD_DEV_TOKENS: 'true' },
      listen: true,
    });
    // startHerald attaches the WebSocket gateway to app.server; the switch goes in front of it.
    network = outageSwitch(t.app.server);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const open = async () => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 680 } });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT);
      page.on('pageerror', (err) => pageErrors.push(err.message));
      await page.goto(t.url!);
      return page;
    };
    [alice, bob] = await Promise.all([open(), open()]);
  });

  afterAll(async () => {
    await browser?.close();
    network?.remove();
    await t?.close();
  });

  const conversation = (page: Page, title: string) =>
    page.getByTestId('conversation').and(page.locator(`[data-title="${title}"]`));
  const messages = (page: Page) => page.getByTestId('messages').getByTestId('message');
  const message = (page: Page, text: string) => messages(page).filter({ hasText: text });

  async function say(page: Page, text: string): Promise<void> {
    await page.getByTestId('composer-input').fill(text);
    await page.getByTestId('composer-input').press('Enter');
  }

  it('serves the page, the bundle and the styles', async () => {
    const html = await t.call({ method: 'GET', url: '/' });
    expect(html.status).toBe(200);
    expect(String(html.headers['content-type'])).toMatch(/^text\/html/);
    const js = await t.call({ method: 'GET', url: '/demo/app.js' });
    expect(js.status).toBe(200);
    expect(String(js.headers['content-type'])).toMatch(/^text\/javascript/);
    expect(String(js.body)).toContain('/v1/dev/tokens');
    const css = await t.call({ method: 'GET', url: '/demo/style.css' });
    expect(css.status).toBe(200);
  });

  it('logs two users in and shows who is online', async () => {
    await alice.getByTestId('login-alice').click();
    await bob.getByTestId('login-bob').click();
    await alice.getByTestId('me').filter({ hasText: 'Alice' }).waitFor();
    await bob.getByTestId('me').filter({ hasText: 'Bob' }).waitFor();

    await conversation(alice, 'Demo').click();
    await alice.getByTestId('thread-title').filter({ hasText: 'Demo' }).waitFor();
    // Bob's page follows the group too, so his presence reaches alice's thread header.
    await alice.locator('[data-testid=member][data-user=bob][data-presence=online]').waitFor();
    await alice.locator('[data-testid=member][data-user=carol][data-presence=offline]').waitFor();
  });

  it('delivers a message live with an unread badge, and a read receipt back', async () => {
    await say(alice, 'Hi Bob, this is Alice');
    await message(alice, 'Hi Bob, this is Alice').waitFor();

    const demo = conversation(bob, 'Demo');
    await demo.getByTestId('unread-badge').filter({ hasText: /^1$/ }).waitFor();
    await demo.filter({ hasText: 'Alice: Hi Bob, this is Alice' }).waitFor();

    await demo.click();
    await message(bob, 'Hi Bob, this is Alice').waitFor();
    await demo.getByTestId('unread-badge').waitFor({ state: 'hidden' });
    await alice.getByTestId('receipt').filter({ hasText: 'Seen by Bob' }).waitFor();
  });

  it('shows typing while the other types, and clears it when the message arrives', async () => {
    await bob.getByTestId('composer-input').pressSequentially('Hello Al');
    const typing = alice.getByTestId('typing').filter({ hasText: 'Bob is typing…' });
    await typing.waitFor();
    await bob.getByTestId('composer-input').press('Enter');
    await message(alice, 'Hello Al').waitFor();
    await typing.waitFor({ state: 'hidden' });
  });

  it('loses nothing when bob reloads mid-conversation', async () => {
    await Promise.all([
      bob.reload(),
      (async () => {
        await say(alice, 'sent during the reload 1');
        await say(alice, 'sent during the reload 2');
        await message(alice, 'sent during the reload 2').waitFor();
      })(),
    ]);
    await say(alice, 'sent after the reload');
    // Same user, same thread after the reload; every message once, in order.
    await bob.getByTestId('thread-title').filter({ hasText: 'Demo' }).waitFor();
    await message(bob, 'sent after the reload').waitFor();
    const texts = async (page: Page) =>
      (await messages(page).locator('.body').allTextContents()).map((s) => s.trim());
    const onAlice = await texts(alice);
    expect(await texts(bob)).toEqual(onAlice);
    expect(onAlice).toEqual([
      'Hi Bob, this is Alice',
      'Hello Al',
      'sent during the reload 1',
      'sent during the reload 2',
      'sent after the reload',
    ]);
  });

  it('shows the reconnect banner with cached messages, then catches up', async () => {
    network.down();
    const banner = bob.getByTestId('banner');
    await banner
      .filter({ hasText: 'Reconnecting…' })
      .filter({ hasText: 'Showing cached messages' })
      .waitFor();
    await message(bob, 'sent after the reload').waitFor();

    await say(alice, 'sent while the network was down');
    await alice
      .getByTestId('pending-message')
      .filter({ hasText: 'sent while the network was down' })
      .waitFor();

    network.up();
    await banner.waitFor({ state: 'hidden', timeout: 30_000 });
    await message(bob, 'sent while the network was down').waitFor({ timeout: 30_000 });
    await alice.getByTestId('pending-message').waitFor({ state: 'hidden', timeout: 30_000 });
    await message(alice, 'sent while the network was down').waitFor();
    await alice.getByTestId('banner').waitFor({ state: 'hidden', timeout: 30_000 });
    expect(await messages(bob).count()).toBe(await messages(alice).count());
  });

  it('replies in a thread panel: the root counts replies, the main timeline does not show them', async () => {
    const before = await messages(bob).count();
    await message(alice, 'sent after the reload').getByTestId('thread-link').click();
    const panel = (page: Page) => page.getByTestId('thread-panel');
    await panel(alice).getByTestId('thread-messages').filter({ hasText: 'sent after the reload' }).waitFor();
    await panel(alice).getByTestId('thread-input').fill('a reply in the thread');
    await panel(alice).getByTestId('thread-input').press('Enter');
    await panel(alice).getByTestId('message').filter({ hasText: 'a reply in the thread' }).waitFor();
    // Bob sees the count on the root, not the reply; opening the thread shows it.
    const link = message(bob, 'sent after the reload').getByTestId('thread-link');
    await link.filter({ hasText: '1 reply' }).waitFor();
    expect(await messages(bob).count()).toBe(before);
    await link.click();
    await panel(bob).getByTestId('message').filter({ hasText: 'a reply in the thread' }).waitFor();
    await panel(bob).getByTestId('thread-input').fill('and an answer');
    await panel(bob).getByTestId('thread-input').press('Enter');
    await panel(alice).getByTestId('message').filter({ hasText: 'and an answer' }).waitFor();
    await message(alice, 'sent after the reload')
      .getByTestId('thread-link')
      .filter({ hasText: '2 replies' })
      .waitFor();
    await panel(alice).getByRole('button', { name: 'Close' }).click();
    await panel(bob).getByRole('button', { name: 'Close' }).click();
    await panel(alice).waitFor({ state: 'hidden' });
  });

  it('leaves a clean page (and a screenshot when DEMO_SCREENSHOT is set)', async () => {
    await say(bob, 'Looks good from here');
    await message(alice, 'Looks good from here').waitFor();
    await alice.getByTestId('receipt').filter({ hasText: 'Seen by Bob' }).waitFor();
    if (process.env.DEMO_SCREENSHOT) await alice.screenshot({ path: process.env.DEMO_SCREENSHOT });
    expect(pageErrors).toEqual([]);
  });
});
