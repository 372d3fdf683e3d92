/**
 * Waits for `work` to settle (its failure is its owner's to report), or for `signal` to abort,
 * whichever comes first: at shutdown, background work on a stalled database is not waited for
 * past the deadline.
 */
export async function settledOrAborted(work: Promise<unknown> | undefined, signal?: AbortSignal): Promise<void> {
  if (!work || signal?.aborted) return;
  let onAbort!: () => void;
  const aborted = new Promise<void>((resolve) => (onAbort = resolve));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([work.then(() => undefined, () => undefined), aborted]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
