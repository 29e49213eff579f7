import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (apt-get install chromium); .ci/run installs it. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where tests leave screenshots for people to look at. */
export const TEST_OUTPUT = join(process.cwd(), 'test-output');

/**
 * Whether browser tests can run. Without Chromium they are skipped, loudly, on a developer's machine; under
 * CI=true the suite fails instead, so that a CI without a browser is never green by skipping.
 */
export function chromiumAvailable(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') {
    throw new Error(`${suite}: ${CHROMIUM} is missing and CI=true: install Debian's chromium package`);
  }
  process.stderr.write(
    `\n*** ${suite}: SKIPPED: ${CHROMIUM} is missing (apt-get install chromium). Under CI=true this fails. ***\n\n`,
  );
  return false;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions of the page, as text. */
  errors: string[];
  close(): Promise<void>;
}

/** A real headless Chromium with a fresh profile, and one page whose console errors are collected. */
export async function openBrowser(viewport = { width: 1440, height: 1000 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot under test-output/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  const path = join(TEST_OUTPUT, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}
