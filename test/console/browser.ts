import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../support/processes.ts';

/** Debian's Chromium (installed by .ci/run); Playwright's own browser downloads are not used. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const IMAGES = path.join(REPO_ROOT, 'docs', 'images');
/** Nothing in the background that would reach the network or need a GPU; no sandbox (CI runs as root). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-dev-shm-usage'];
export const CONSOLE_BUILD = path.join(REPO_ROOT, 'dist', 'console', 'index.html');

/** The build the server serves; `npm ci` (prepare) and `npm run build` make it. */
export function assertConsoleBuilt(): void {
  if (!existsSync(CONSOLE_BUILD)) throw new Error(`the console is not built (${CONSOLE_BUILD} is missing): run npm run build`);
}

export interface Browser {
  context: BrowserContext;
  /** console errors and CSP violations seen on any page */
  problems: string[];
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile, nothing in the background that would reach the network. */
export async function launchBrowser(options: { locale?: string; colorScheme?: 'light' | 'dark' } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  const profile = mkdtempSync(path.join(tmpdir(), 'hg-console-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    locale: options.locale ?? 'en-GB',
    colorScheme: options.colorScheme ?? 'light',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(10_000);
  const problems: string[] = [];
  context.on('page', (page) => watch(page, problems));
  for (const page of context.pages()) watch(page, problems);
  return {
    context,
    problems,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page: Page, problems: string[]): void {
  page.on('console', (message) => {
    // refusals of the API (401, 400 on a bad edit, ...) are expected in some steps and shown by the page
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/**
 * Runs axe-core in the page (evaluated through the DevTools protocol, so the console's CSP, which
 * forbids inline scripts, stays on) and returns the serious and critical violations.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (options: unknown) => Promise<{ violations: AxeViolation[]; passes: unknown[] }> } }).axe;
    return axe.run({ resultTypes: ['violations'] });
  });
  if (result.passes.length === 0) throw new Error('axe-core checked nothing: the scan did not run on the page');
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(', ')}`).join('\n');
}
