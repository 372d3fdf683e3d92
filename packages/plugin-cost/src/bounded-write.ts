import type { LedgerBatch } from './ledger-store.js';

/**
 * The ledger's database writes, each given up on once it takes longer than `timeoutMs`
 * (ledger.writeTimeoutMs), or once `cutOff` is called (the shutdown deadline): the writer then
 * spools its rows. The database may still commit an abandoned write later; that is harmless,
 * since writes are idempotent per request_id: the spool's replay skips the rows already in
 * (ON CONFLICT DO NOTHING), and the rollups and key totals count only rows really inserted.
 */
export class BoundedWrite {
  /** Set by `cutOff`: every write fails with it from then on. */
  private cut: Error | undefined;
  /** Rejects each running write's wait. */
  private readonly running = new Set<(err: Error) => void>();

  constructor(
    private readonly write: (batch: LedgerBatch) => Promise<void>,
    private readonly timeoutMs: number,
  ) {}

  /** Abandons the writes running, and fails every later one at once, without starting it. */
  cutOff(reason: string): void {
    this.cut ??= new Error(reason);
    for (const abandon of this.running) abandon(this.cut);
  }

  async run(batch: LedgerBatch): Promise<void> {
    if (this.cut) throw this.cut;
    const ms = this.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let abandon!: (err: Error) => void;
    const late = new Promise<never>((_, reject) => {
      abandon = reject;
      timer = setTimeout(() => reject(new Error(`the database did not finish a write within ${ms} ms (ledger.writeTimeoutMs)`)), ms);
    });
    const written = this.write(batch);
    written.catch(() => undefined); // once abandoned, its outcome no longer matters
    this.running.add(abandon);
    try {
      await Promise.race([written, late]);
    } finally {
      clearTimeout(timer);
      this.running.delete(abandon);
    }
  }
}
