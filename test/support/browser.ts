import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { Browser, Page } from 'puppeteer-core';
import { REPO_ROOT } from './paths';

/** Where browser tests leave their screenshots (ignored by git). */
export const TEST_OUTPUT = join(REPO_ROOT, 'test-output');

/** The OS's Chromium: $CHROMIUM_PATH, else `chromium` (Debian) or `chromium-browser` on the PATH. */
export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      // not this name
    }
  }
  throw new Error('no Chromium found: install the chromium package (npm run setup does) or set CHROMIUM_PATH');
}

/** A headless Chromium of our own (root needs --no-sandbox). */
export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** Closes the browser; if it does not go within 5 s, kills the process we started, by its pid. */
export async function closeBrowser(browser: Browser | undefined): Promise<void> {
  if (!browser) return;
  const child = browser.process();
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    browser.close().then(() => true, () => false),
    new Promise<boolean>((done) => (timer = setTimeout(() => done(false), 5_000))),
  ]);
  clearTimeout(timer);
  if (!closed && child?.pid && child.exitCode === null) child.kill('SIGKILL');
}

/** Saves a screenshot of the page under test-output/ and prints its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  const path = join(TEST_OUTPUT, `${name}.png`);
  await page.screenshot({ path });
  process.stderr.write(`screenshot: ${path}\n`);
  return path;
}
