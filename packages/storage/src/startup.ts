import type { Logger } from '@tollgate/core';
import { isOutage } from './outage.js';

export interface StartupOptions {
  log?: Logger;
  /** First pause between attempts; it doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

/** Where start-up stands: done, or waiting for the database (and why). */
export interface StartupState {
  ready: boolean;
  /** While not ready: the task waiting and the last error it met. */
  waiting?: string;
}

/**
 * The work plugins must do in the database before they can serve (schema, migrations, loading
 * what they keep in memory), run in registration order. A task that meets an outage (see
 * `isOutage`) does not fail the boot: it and every task after it are retried in the
 * background, with backoff, until the database answers, so a gateway started while its
 * database is down serves health (and says why it is not ready) instead of exiting. Any other
 * error on the first attempt fails the boot, as before.
 */
export class Startup {
  private readonly pending: { name: string; task: () => Promise<void> }[] = [];
  private retrying: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private lastError: string | undefined;
  private closed = false;

  constructor(private readonly o: StartupOptions = {}) {}

  /**
   * Runs `task` now, unless earlier tasks still wait for the database: then after them. Resolves
   * once it ran or was put off; rejects only for an error that is not an outage on a first
   * attempt made at once.
   */
  async run(name: string, task: () => Promise<void>): Promise<void> {
    if (this.pending.length === 0) {
      try {
        await task();
        return;
      } catch (err) {
        if (!isOutage(err)) throw err;
        this.note(err);
        this.o.log?.warn({ err, task: name }, 'the database is unavailable at start: serving health and retrying in the background');
      }
    }
    this.pending.push({ name, task });
    this.retrying ??= this.retry();
  }

  state(): StartupState {
    if (this.pending.length === 0) return { ready: true };
    return { ready: false, waiting: `start-up (${this.pending[0]!.name}) waits for the database${this.lastError ? `: ${this.lastError}` : ''}` };
  }

  /** Stops retrying (at shutdown). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.wake?.();
  }

  private async retry(): Promise<void> {
    let pauseMs = this.o.retryMs ?? 250;
    while (this.pending.length > 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, pauseMs);
        this.timer.unref();
      });
      if (this.closed) return;
      const next = this.pending[0]!;
      try {
        await next.task();
        this.pending.shift();
        pauseMs = 0;
        if (this.pending.length === 0) this.o.log?.info({ task: next.name }, 'the database is available: start-up finished');
      } catch (err) {
        // Not only outages: a task that fails for another reason now (a migration that
        // cannot run) is reported here and by readiness, and tried again later.
        if (!isOutage(err)) this.o.log?.error({ err, task: next.name }, 'start-up work failed; retrying');
        this.note(err);
        pauseMs = Math.min(Math.max(pauseMs * 2, this.o.retryMs ?? 250), this.o.maxRetryMs ?? 5000);
      }
    }
    this.retrying = undefined;
  }

  private note(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
  }
}
