// The kinds in the demo page (src/demo/kinds/): reaction chips and a poll, between two
// browser contexts (alice and bob in the demo group), against a real listening node. Every
// wait is a bounded Playwright locator wait. Skipped locally without /usr/bin/chromium.
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  throw new Error(`CI needs ${CHROMIUM} for the browser test (apt-get install -y chromium).`);
}
const WAIT = 15_000;

describe.skipIf(!haveChromium)('kinds in the demo page', { timeout: 90_000 }, () => {
  let t: TestHerald;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    t = await startTestHerald({ env: { HERALD_DEMO: 'true', HERALD_DEV_TOKENS: 'true' }, listen: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    const open = async (user: string) => {
      const page = await (await browser.newContext({ viewport: { width: 1100, height: 680 } })).newPage();
      page.setDefaultTimeout(WAIT);
      page.on('pageerror', (err) => pageErrors.push(err.message));
      await page.goto(t.url as string);
      await page.getByTestId(`login-${user}`).click();
      await page.getByTestId('conversation').and(page.locator('[data-title="Demo"]')).click();
      await page.getByTestId('thread-title').filter({ hasText: 'Demo' }).waitFor();
      return page;
    };
    [alice, bob] = await Promise.all([open('alice'), open('bob')]);
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  const message = (page: Page, text: string) =>
    page.getByTestId('messages').getByTestId('message').filter({ hasText: text });
  async function say(page: Page, text: string): Promise<void> {
    await page.getByTestId('composer-input').fill(text);
    await page.getByTestId('composer-input').press('Enter');
  }

  it('a reaction shows on both pages; clicking your own takes it back', async () => {
    await say(alice, 'react to me');
    const onBob = message(bob, 'react to me');
    await onBob.waitFor();
    await onBob.locator('.reaction.add', { hasText: '👍' }).click();
    const chip = message(alice, 'react to me').locator('[data-testid=reaction][data-emoji="👍"]');
    await chip.filter({ hasText: '👍 1' }).waitFor();
    const mine = onBob.locator('[data-testid=reaction][data-emoji="👍"].me');
    await mine.waitFor();
    await mine.click();
    await chip.waitFor({ state: 'detached' });
  });

  it('a poll written in the composer: bob votes, alice sees the tally and closes it', async () => {
    await say(alice, '/poll Lunch? | Pizza | Sushi');
    const pollOnBob = bob.getByTestId('poll').filter({ hasText: 'Lunch?' });
    await pollOnBob.waitFor();
    await pollOnBob.getByTestId('poll-option').filter({ hasText: 'Sushi' }).click();
    const pollOnAlice = alice.getByTestId('poll').filter({ hasText: 'Lunch?' });
    await pollOnAlice.getByTestId('poll-option').filter({ hasText: 'Sushi · 1' }).waitFor();
    await pollOnBob.locator('.poll-option.me', { hasText: 'Sushi' }).waitFor();
    await pollOnAlice.getByRole('button', { name: 'Close poll' }).click();
    await pollOnBob.filter({ hasText: '1 voted · closed' }).waitFor();
    expect(pageErrors).toEqual([]);
  });
});
