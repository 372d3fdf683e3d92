/**
 * Polls `check` until it is true; rejects once `timeoutMs` has passed. Tests wait on
 * conditions this way instead of sleeping for a fixed time.
 *
 * @example
 * await until(() => mock.requests.length === 2);
 */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
