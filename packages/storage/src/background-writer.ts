import { Worker } from 'node:worker_threads';
import type { CompiledQuery, Kysely } from 'kysely';

/** Runs batches of write queries, each batch in one transaction, away from the request path. */
export interface BackgroundWriter {
  write(queries: readonly CompiledQuery[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * SQLite writes on a worker thread with its own connection (WAL lets it write while the main
 * connection reads); an in-memory database, which a second connection cannot see, writes in
 * place.
 */
export function sqliteBackgroundWriter(file: string, db: Kysely<any>): BackgroundWriter {
  if (file === ':memory:') return inPlaceWriter(db);
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let worker: Worker | undefined;
  let next = 0;
  // A thread that died fails what it held; the next write starts a fresh one.
  const lost = (w: Worker, err: Error) => {
    if (worker !== w) return;
    worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const start = (): Worker => {
    const w = new Worker(new URL('./sqlite-worker.mjs', import.meta.url), { workerData: { file } });
    w.unref();
    w.on('message', (m: { id: number; error?: string; code?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (!p) return;
      if (m.error === undefined) p.resolve();
      else p.reject(Object.assign(new Error(m.error), { code: m.code }));
    });
    w.on('error', (err) => lost(w, err));
    w.on('exit', (code) => lost(w, new Error(`the SQLite writer thread exited (${code})`)));
    return w;
  };
  const send = (msg: object, w: Worker) =>
    new Promise<void>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...msg, id });
    });
  return {
    write: (queries) => send({ queries: queries.map((q) => ({ sql: q.sql, parameters: q.parameters })) }, (worker ??= start())),
    async close() {
      const w = worker;
      if (!w) return;
      await send({ close: true }, w).catch(() => undefined);
      worker = undefined;
      await w.terminate();
    },
  };
}

/** PostgreSQL (and in-memory SQLite): the driver is already off the request path, or must be here. */
export function inPlaceWriter(db: Kysely<any>): BackgroundWriter {
  return {
    async write(queries) {
      await db.transaction().execute(async (tx) => {
        for (const q of queries) await tx.executeQuery(q);
      });
    },
    async close() {},
  };
}
