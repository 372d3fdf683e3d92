import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Screenshots land here (gitignored), kept after the run as the suite's artifacts. */
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '../../../test-artifacts');

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * Debian's chromium, headless. Missing, it fails the run with what to do: the README's test
 * command installs it, and a browser suite that skips itself would pass without testing.
 */
export async function launchChromium(): Promise<Browser> {
  const path = process.env.CHROMIUM_PATH ?? CANDIDATES.find((p) => existsSync(p));
  if (!path || !existsSync(path)) {
    throw new Error(
      "the console's browser tests need Debian's chromium: run `apt-get update && apt-get install -y chromium` " +
        '(the README\'s test command does), or set CHROMIUM_PATH to a Chromium binary',
    );
  }
  await mkdir(ARTIFACTS, { recursive: true });
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return puppeteer.launch({ executablePath: path, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
