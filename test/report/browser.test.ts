/**
 * Opens the HTML report in headless Chromium: no console errors, no failed requests, no broken images, and a
 * screenshot (written to $TMPDIR/unit-attack-report.png, or $REPORT_SCREENSHOT, for a look). Skips with a message only when Chromium is absent.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeReports } from '../../src/report/write.js';
import { runOutput } from './fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const require = createRequire(import.meta.url);

/** The part of playwright-core this test uses (typed here, so type-checking does not need the package). */
interface Page {
  on(event: 'console', f: (m: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', f: (e: Error) => void): void;
  on(event: 'requestfailed' | 'request', f: (r: { url(): string }) => void): void;
  goto(url: string, options: { waitUntil: 'load' }): Promise<unknown>;
  $$eval<R>(selector: string, f: (els: ImageElement[]) => R): Promise<R>;
  evaluate<R>(f: () => R): Promise<R>;
  click(selector: string): Promise<void>;
  locator(selector: string, options?: { hasText: string }): { count(): Promise<number>; isVisible(): Promise<boolean> };
  screenshot(options: { path: string; fullPage: boolean }): Promise<unknown>;
}
interface ImageElement { alt: string; complete: boolean; naturalWidth: number; src: string }
interface PlaywrightCore {
  chromium: {
    launchPersistentContext(dir: string, options: Record<string, unknown>): Promise<{ newPage(): Promise<Page>; close(): Promise<void> }>;
  };
}

function playwright(): PlaywrightCore | undefined {
  try {
    return require('playwright-core') as PlaywrightCore;
  } catch {
    return undefined;
  }
}

const pw = playwright();
const missing = !existsSync(CHROMIUM) ? `Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`
  : pw === undefined ? 'playwright-core is not installed (npm install playwright-core)' : undefined;
if (missing) console.warn(`skipping the browser check of the HTML report: ${missing}`);

describe.skipIf(missing !== undefined)('the HTML report in headless Chromium', () => {
  it('loads with no console error, no failed request and no broken image, and renders', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'ua-html-'));
    const written = await writeReports(await runOutput(), out);
    const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'ua-chromium-'));
    const context = await pw!.chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      const requests: string[] = [];
      page.on('request', (r) => { if (!r.url().startsWith('data:') && !r.url().startsWith('file:')) requests.push(r.url()); });
      await page.goto(pathToFileURL(written.html).href, { waitUntil: 'load' });
      const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ alt: i.alt, ok: i.complete && i.naturalWidth > 0, src: i.src.slice(0, 30) })));
      expect(images.length).toBeGreaterThanOrEqual(11);
      expect(images.filter((i) => !i.ok)).toEqual([]);
      expect(images.every((i) => i.src.startsWith('data:image/'))).toBe(true);
      // The filter works and the injected script text stays text.
      expect(await page.locator('section.scenario').count()).toBe(3);
      await page.click('button[data-filter="failed"]');
      expect(await page.locator('section.scenario.passed').isVisible()).toBe(false);
      await page.click('button[data-filter="all"]');
      expect(await page.locator('section.scenario.passed').isVisible()).toBe(true);
      expect(await page.evaluate(() => (globalThis as { alerted?: boolean }).alerted)).toBeUndefined();
      expect(await page.locator('h2', { hasText: '<script>alert(1)</script>' }).count()).toBe(1);
      const shot = process.env.REPORT_SCREENSHOT ?? path.join(os.tmpdir(), 'unit-attack-report.png');
      mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      expect(existsSync(shot)).toBe(true);
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});
