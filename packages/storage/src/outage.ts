/**
 * True when an error means the database cannot be used right now (down, unreachable, stalled,
 * restarting, out of disk or connections), as opposed to a mistake that retrying will not mend
 * (a bad migration, a missing permission, a value it refuses). Start-up waits out the first
 * kind in the background, and fails at once on the second.
 *
 * @example
 * isOutage(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })); // true
 * isOutage(Object.assign(new Error('permission denied for schema x'), { code: '42501' })); // false
 */
export function isOutage(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || OUTAGE_SQLSTATE.test(code) || SQLITE_OUTAGE.test(code))) return true;
    if (PG_CONNECTION_MESSAGES.test(e.message)) return true;
    if ((e as { errors?: unknown }).errors instanceof Array) return (e as AggregateError).errors.some(isOutage);
  }
  return false;
}

/** The code this package gives its own timeouts (a query or a connection the database did not answer in time). */
export const STORAGE_TIMEOUT = 'TG_STORAGE_TIMEOUT';

const SOCKET_CODES = new Set([
  STORAGE_TIMEOUT,
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * PostgreSQL SQLSTATEs of an unavailable server: 08 connection exception, 53 insufficient
 * resources (disk full, out of memory, too many connections), 57P01-57P05 shut down /
 * restarting / idle session timeout, 57014 a statement cancelled (statement_timeout), 58 an
 * I/O error, 40001/40P01 a transaction to run again, 25P03 an idle transaction timed out.
 */
const OUTAGE_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-5]|57014|58[0-9A-Z]{3}|40001|40P01|25P03)$/;

/** SQLite: locked or busy, disk full, an I/O error, a file that cannot be opened or written. */
const SQLITE_OUTAGE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL|NOMEM)/;

/** node-postgres reports a lost or timed-out connection with a message and no code. */
const PG_CONNECTION_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed|Connection terminated due to connection timeout)/;
