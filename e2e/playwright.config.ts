import { existsSync } from 'node:fs';
import { defineConfig, devices } from '@playwright/test';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  throw new Error(
    `The end-to-end tests drive Debian's Chromium, not found at ${chromium}: run "apt-get install -y chromium" (or set CHROMIUM_PATH). Never "playwright install": it downloads from a CDN these machines cannot reach.`,
  );
}

/**
 * Playwright with Debian's Chromium (never a downloaded browser: `apt-get install -y chromium`), against
 * the sample shops (one per framework, sample-apps/frameworks.ts) started by the global setup on a real PostgreSQL.
 */
export default defineConfig({
  testDir: './tests',
  globalSetup: './support/global-setup.ts',
  outputDir: './test-results',
  // The machines have two cores shared with the other test suites.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  reporter: [['list']],
  use: {
    ...devices['Desktop Chrome'],
    viewport: { width: 1280, height: 900 },
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: chromium,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'debian-chromium' }],
});
