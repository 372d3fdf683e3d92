import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Who signed in: the key stays here, in the gateway's memory, never in the browser. */
export interface Session {
  readonly id: string;
  readonly key: string;
  /** Sent back in `x-tollgate-csrf` on every state-changing call. */
  readonly csrf: string;
  readonly role: 'admin' | 'key';
  readonly keyAlias: string | null;
  lastUsed: number;
}

/**
 * Console sessions by cookie id, least recently used first (a Map keeps insertion order and
 * `touch` re-inserts). Idle ones expire after `ttlMs`; past `max` the oldest goes.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly o: { ttlMs: number; max: number; now?: () => number }) {}

  create(fields: Pick<Session, 'key' | 'role' | 'keyAlias'>): Session {
    const session: Session = { ...fields, id: token(), csrf: token(), lastUsed: this.now() };
    this.sessions.set(session.id, session);
    for (const id of this.sessions.keys()) {
      if (this.sessions.size <= this.o.max) break;
      this.sessions.delete(id);
    }
    return session;
  }

  /** The live session for a cookie id, its idle clock restarted; undefined when unknown or expired. */
  touch(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    this.sessions.delete(id);
    if (this.now() - s.lastUsed > this.o.ttlMs) return undefined;
    s.lastUsed = this.now();
    this.sessions.set(id, s);
    return s;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  private now(): number {
    return this.o.now ? this.o.now() : Date.now();
  }
}

/** Compares a presented CSRF token with the session's in constant time. */
export function csrfMatches(session: Session, presented: string | string[] | undefined): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

function token(): string {
  return randomBytes(32).toString('base64url');
}
