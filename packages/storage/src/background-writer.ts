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
  const worker = new Worker(new URL('./sqlite-worker.mjs', import.meta.url), { workerData: { file } });
  worker.unref();
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let next = 0;
  let failed: Error | undefined;
  const fail = (err: Error) => {
    failed = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (m: { id: number; error?: string; code?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (!p) return;
    if (m.error === undefined) p.resolve();
    else p.reject(Object.assign(new Error(m.error), { code: m.code }));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (${code})`)));
  const send = (msg: object) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...msg, id });
    }).finally(() => {
      if (pending.size === 0) worker.unref();
    });
  return {
    write: (queries) => send({ queries: queries.map((q) => ({ sql: q.sql, parameters: q.parameters })) }),
    async close() {
      if (failed) return;
      await send({ close: true });
      await worker.terminate();
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
