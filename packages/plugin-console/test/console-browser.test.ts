import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { createStorage, sql } from '@tollgate/storage';
import { errorReply } from '@tollgate/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, launchChromium } from './browser.js';
import { MASTER_KEY, startConsoleHarness, type ConsoleHarness } from './harness.js';

// The page functions below run in Chromium. The tests are type-checked without the DOM
// library (it would retype Node's fetch for every other test), so its globals are named here.
declare const document: any;
declare const localStorage: object;
declare const sessionStorage: object;

let h: ConsoleHarness;
let browser: Browser;
let alice: { key: string; token: string };

beforeAll(async () => {
  h = await startConsoleHarness();
  browser = await launchChromium();
  // The test's own traffic: three priced requests by alice (two for customer-7), one failure.
  alice = await h.admin('/key/generate', { key_alias: 'browser-alice', user_id: 'alice', max_budget: 10 });
  const meta = (user: string) => ({ litellm_metadata: { user, tags: ['browser-test'] } });
  expect([await h.ask(alice.key, meta('customer-7')), await h.ask(alice.key, meta('customer-7')), await h.ask(alice.key, meta('customer-9'))]).toEqual([200, 200, 200]);
  h.mock.once('POST', '/v1/messages', errorReply('overloaded_error', 'Overloaded', 529));
  expect(await h.ask(alice.key, meta('customer-9'))).toBe(529);
  await h.ledgerRows(4);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const text = (page: Page, selector: string) => page.$eval(selector, (el) => el.textContent?.trim() ?? '');
/** Waits until `selector`'s text, spaces collapsed, is `expected` (the page loads its data after rendering). */
async function waitText(page: Page, selector: string, expected: string): Promise<void> {
  try {
    await page.waitForFunction((s, e) => document.querySelector(s)?.textContent?.replace(/\s+/g, ' ').trim() === e, { timeout: 15_000 }, selector, expected);
  } catch (err) {
    // Say what the page showed instead.
    const shown = await page.evaluate((s) => ({ found: document.querySelector(s)?.textContent ?? null, page: document.querySelector('main')?.textContent?.replace(/\s+/g, ' ').slice(0, 600) ?? null }), selector);
    throw new Error(`${selector} did not read ${JSON.stringify(expected)} within 15 s: ${JSON.stringify(shown)}`, { cause: err });
  }
}

/** A page in a context of its own: no cookie from another test's sign-in. */
async function freshPage(): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on('close', () => void context.close());
  return page;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${h.url}/ui`);
  await page.waitForSelector('input[name=key]');
  await page.type('input[name=key]', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('header');
}

describe('the console in Chromium', { timeout: 60_000 }, () => {
  it('loads in under a second', async () => {
    const page = await freshPage();
    await page.goto(`${h.url}/ui`, { waitUntil: 'load' });
    await page.waitForSelector('input[name=key]');
    const ms = await page.evaluate(() => {
      const [nav] = (performance as unknown as { getEntriesByType(type: string): { startTime: number; loadEventEnd: number }[] }).getEntriesByType('navigation');
      return nav.loadEventEnd - nav.startTime;
    });
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(1000);
    // The key is in no browser storage and no script-readable cookie.
    await page.type('input[name=key]', MASTER_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('header');
    const stored = await page.evaluate(() => JSON.stringify([document.cookie, { ...localStorage }, { ...sessionStorage }]));
    expect(stored).toBe('["",{},{}]');
    await page.close();
  });

  it('shows the numbers the test traffic produced on the overview', async () => {
    const page = await freshPage();
    await page.setViewport({ width: 1280, height: 1000 });
    await signIn(page, MASTER_KEY);
    await waitText(page, '[data-stat=spend] b', '$0.0315'); // 3 × (1000 × $3 + 500 × $15) / 1M
    expect(await text(page, '[data-stat=requests] b')).toBe('4');
    expect(await text(page, '[data-stat=failed] b')).toBe('1');
    expect(await text(page, '[data-stat=unpriced] b')).toBe('0');
    await page.waitForSelector('[data-top=end_user] tr:nth-child(2)');
    expect(await page.$$eval('[data-top=end_user] tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)))).toEqual([
      ['customer-7', '2', '$0.021'],
      ['customer-9', '2', '$0.0105'],
    ]);
    await waitText(page, '[data-top=key] td', 'browser-alice');
    await waitText(page, '[data-budgets] td:nth-child(2)', '$0.0315 of $10');
    await page.waitForSelector('.chart canvas');
    await page.screenshot({ path: join(ARTIFACTS, 'console-overview.png'), fullPage: true });
    await page.close();
  });

  it('creates a key, shows it once, blocks it, and the next request with it fails', async () => {
    const page = await freshPage();
    await page.setViewport({ width: 1400, height: 900 });
    await signIn(page, MASTER_KEY);
    await page.click('a[href="#/keys"]');
    await page.waitForSelector('form input[name=key_alias]');
    await page.type('form input[name=key_alias]', 'browser-bob');
    await page.type('form input[name=max_budget]', '5');
    await page.click('form button[type=submit]');
    await page.waitForSelector('[data-secret]');
    const secret = await text(page, '[data-secret]');
    expect(secret).toMatch(/^sk-/);
    expect(await h.ask(secret)).toBe(200);

    await waitText(page, '[data-key=browser-bob] [data-state]', 'active');
    await page.screenshot({ path: join(ARTIFACTS, 'console-keys.png'), fullPage: true });
    const row = await page.$('[data-key=browser-bob]');
    const block = await row!.$('xpath/.//button[text()="Block"]');
    await block!.click();
    await waitText(page, '[data-key=browser-bob] [data-state]', 'blocked');
    expect(await h.ask(secret)).toBe(401);
    await page.screenshot({ path: join(ARTIFACTS, 'console-keys-blocked.png'), fullPage: true });

    // Searching narrows the list to the matching key.
    await page.type('input[name=search]', 'browser-b');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-key]').length === 1, { timeout: 15_000 });
    expect(await page.$$eval('tr[data-key]', (rows) => rows.map((r) => r.getAttribute('data-key')))).toEqual(['browser-bob']);
    await page.close();
  });

  it('filters the request log and opens one request', async () => {
    const page = await freshPage();
    await page.setViewport({ width: 1400, height: 900 });
    await signIn(page, MASTER_KEY);
    await page.click('a[href="#/logs"]');
    await page.waitForSelector('tr[data-request]');
    await page.type('form input[name=end_user]', 'customer-9');
    await page.click('form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-request]').length === 2, { timeout: 15_000 });
    expect(await page.$$eval('tr[data-request] td:nth-child(7)', (cells) => cells.map((c) => c.textContent).sort())).toEqual(['200', '529']);
    await page.select('form select[name=status]', 'error');
    await page.click('form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-request]').length === 1, { timeout: 15_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'console-logs-filtered.png'), fullPage: true });
    const id = await page.$eval('tr[data-request]', (r) => r.getAttribute('data-request'));
    await page.click('tr[data-request]');
    await page.waitForSelector('[data-detail]');
    const detail = await page.$$eval('[data-detail] dt, [data-detail] dd', (els) => els.map((e) => e.textContent));
    const field = (name: string) => detail[detail.indexOf(name) + 1];
    expect([field('request_id'), field('status'), field('status_code'), field('end_user'), field('key_alias')]).toEqual([id, 'failure', '529', 'customer-9', 'browser-alice']);
    await page.close();
  });

  it('keeps what was typed into the create form while the page renders again (a search, a list reload)', async () => {
    await h.admin('/key/generate', { key_alias: 'typing-other' });
    const page = await freshPage();
    await signIn(page, MASTER_KEY);
    await page.click('a[href="#/keys"]');
    await page.waitForSelector('tr[data-key=typing-other]');
    await page.type('form input[name=key_alias]', 'half-typed');
    await page.type('form input[name=max_budget]', '7');
    // Every keystroke in the search box renders the page again; the list reloads for it.
    await page.type('input[name=search]', 'typing-o');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-key]').length === 1, { timeout: 15_000 });
    expect(await page.$eval('form input[name=key_alias]', (el) => (el as { value: string }).value)).toBe('half-typed');
    expect(await page.$eval('form input[name=max_budget]', (el) => (el as { value: string }).value)).toBe('7');
    await page.close();
  });

  it('pages on through a log longer than the gateway counts ahead: 10,000+ requests', async () => {
    // 10,050 requests of a key of their own from 2021, written straight into the ledger.
    const token = 'c'.repeat(64);
    const storage = await createStorage(h.database);
    await sql
      .raw(`with recursive n(i) as (select 0 union all select i + 1 from n where i < 10049)
        insert into tollgate_spend_logs (request_id, call_type, model, api_key, key_alias, status, start_time, end_time)
        select 'bulk-' || printf('%05d', i), 'messages', 'bulk-model', '${token}', 'bulk', 200, ${Date.parse('2021-05-01')} + i, ${Date.parse('2021-05-01')} + i + 1 from n`)
      .execute(storage.db);
    await storage.close();
    const page = await freshPage();
    await page.setViewport({ width: 1400, height: 900 });
    await signIn(page, MASTER_KEY);
    await page.click('a[href="#/logs"]');
    // The view renders after the hash changes: its form and first page must be there before the
    // filter is typed (typing at once failed 2 runs in 3 with "No element found").
    await page.waitForSelector('tr[data-request]');
    await page.type('form input[name=api_key]', token);
    await page.click('form button[type=submit]');
    // The whole log reads "page 1 of 200+" too (the bulk rows are in it): the filtered page is
    // there once its first row is the key's newest.
    await waitText(page, 'tr[data-request] td:nth-child(2)', 'bulk');
    expect(await page.$eval('tr[data-request]', (r) => r.getAttribute('data-request'))).toBe('bulk-10049');
    await waitText(page, '[data-pager] span', 'page 1 of 200+ (10,000+ in all)');
    await page.click('[data-pager] button:last-child');
    // Counted from page 2 on, the rest fits: the total is exact.
    await waitText(page, '[data-pager] span', 'page 2 of 201 (10,050 in all)');
    expect(await page.$eval('tr[data-request]', (r) => r.getAttribute('data-request'))).toBe('bulk-09999');
    await page.screenshot({ path: join(ARTIFACTS, 'console-logs-large.png'), fullPage: true });
    await page.close();
  });

  it('signed in with a virtual key, shows only that key\'s data and no key management', async () => {
    const other = await h.admin<{ key: string }>('/key/generate', { key_alias: 'browser-carol' });
    expect(await h.ask(other.key)).toBe(200);
    await h.ledgerRows(6); // alice's 4, bob's 1, carol's 1
    const page = await freshPage();
    await signIn(page, other.key);
    expect(await text(page, 'header .who')).toBe('key browser-carol');
    expect(await page.$$eval('header nav a', (as) => as.map((a) => a.textContent))).toEqual(['Overview', 'Requests']);
    await waitText(page, '[data-stat=requests] b', '1');
    expect(await text(page, '[data-stat=spend] b')).toBe('$0.0105');
    await page.click('a[href="#/logs"]');
    await page.waitForSelector('tr[data-request]');
    expect(await page.$$eval('tr[data-request] td:nth-child(2)', (cells) => cells.map((c) => c.textContent))).toEqual(['browser-carol']);
    await page.close();
  });
});
