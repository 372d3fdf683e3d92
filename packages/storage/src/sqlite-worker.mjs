// Runs compiled write queries for one SQLite file on a worker thread, so the gateway's event
// loop never does the B-tree and WAL work of the spend ledger. Plain JavaScript: Node loads it
// as is from src/ (tests) and from dist/ (tsc copies it with allowJs).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { keeper, rollupSet } from './rollup.mjs';

const db = new Database(workerData.file, { timeout: 10_000 });
// The same pragmas as the main connection (SQLITE_PRAGMAS in background-writer.ts).
for (const pragma of workerData.pragmas) db.pragma(pragma);

const MAX_STATEMENTS = 100;
const statements = new Map();

function statement(sql) {
  let s = statements.get(sql);
  if (!s) {
    s = db.prepare(sql);
    statements.set(sql, s);
    if (statements.size > MAX_STATEMENTS) statements.delete(statements.keys().next().value);
  }
  return s;
}

/** Rows as arrays, or as JSON text (a string, or UTF-8 bytes: a Uint8Array after the clone). */
function rowsOf(ins) {
  if (ins.json === undefined) return ins.rows;
  const text = typeof ins.json === 'string' ? ins.json : Buffer.from(ins.json.buffer, ins.json.byteOffset, ins.json.byteLength).toString('utf8');
  return JSON.parse(text);
}

const runAll = db.transaction((msg) => {
  if (msg.queries) for (const q of msg.queries) statement(q.sql).run(...q.parameters);
  if (msg.inserts) {
    // Per insert, the first-column values of the rows it kept (when it keeps only some), for
    // a later insert that names it as its parent.
    const kept = [];
    for (const ins of msg.inserts) {
      const s = statement(ins.sql);
      const keep = keeper(ins.columns, ins.keepWhen);
      const parent = ins.parent === undefined ? undefined : kept[ins.parent];
      const mine = ins.keepWhen === undefined ? undefined : new Set();
      const rollups = ins.rollups && rollupSet(ins.rollups.map((r) => r.spec), ins.columns);
      for (const row of rowsOf(ins)) {
        if (parent !== undefined && !parent.has(row[0])) continue;
        if (keep(row)) {
          mine?.add(row[0]);
          // A row already stored by an earlier write is in the rollups already.
          if (s.run(row).changes === 0) continue;
        }
        rollups?.add(row);
      }
      kept.push(mine);
      if (rollups) {
        rollups.rows().forEach(({ rows }, i) => {
          const up = statement(ins.rollups[i].sql);
          for (const values of rows) up.run(values);
        });
      }
    }
  }
});

parentPort.on('message', (msg) => {
  if (msg.close) {
    db.close();
    parentPort.postMessage({ id: msg.id });
    return;
  }
  try {
    runAll(msg);
    parentPort.postMessage({ id: msg.id });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err), code: err?.code });
  }
});
