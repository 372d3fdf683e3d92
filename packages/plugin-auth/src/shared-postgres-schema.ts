import { isPostgres, sql, type Kysely, type Migration } from '@tollgate/storage';

/** The first number of the two-number advisory lock an admission takes on its key (the second is the token's hash). */
export const ADMIT_LOCK_CLASS = 7315;

/**
 * PostgreSQL only (SQLite is one process: its limits stay in memory): the shared counters of
 * `PostgresCounters`, and the functions that decide an admission and end a request in one
 * statement each. The tables are UNLOGGED: counters are written on every admission, and
 * skipping the WAL keeps that cheap; a crash or failover empties them (limits start the minute
 * again, spend counters are seeded again from the ledger), which costs less than a durable
 * write per request. Times are the server's clock, so replicas' clocks need not agree.
 */
export const sharedLimitsMigrations: Record<string, Migration> = {
  '010_shared_limits': {
    async up(db: Kysely<any>) {
      if (!isPostgres(db)) return;
      // Requests admitted and tokens of requests that ended, per key and clock minute (epoch minutes).
      await sql`create unlogged table tollgate_limit_windows (
        token varchar(64) not null, minute bigint not null,
        requests integer not null default 0, tokens bigint not null default 0,
        primary key (token, minute))`.execute(db);
      // Requests in flight: a slot per request, until it ends or its replica stops renewing it.
      await sql`create unlogged table tollgate_limit_slots (
        token varchar(64) not null, slot uuid not null, expires_at timestamptz not null,
        primary key (token, slot))`.execute(db);
      // A budgeted key's all-time spend in pico-dollars (numeric: no overflow), seeded from the ledger.
      await sql`create unlogged table tollgate_limit_spend (
        token varchar(64) primary key, spend numeric(40, 0) not null, touched_at timestamptz not null)`.execute(db);
      // One admission of a key at a time over every replica (the advisory lock, held to commit):
      // the checks and the counts below see no other admission of the key in between. Returns
      // ok, seed (no spend counter yet), budget, rpm, tpm or parallel, and the key's spend.
      await sql`
        create function tollgate_limits_admit(p_token text, p_rpm integer, p_tpm integer, p_parallel integer,
          p_line numeric, p_slot uuid, p_slot_ttl_ms integer, out verdict text, out spend numeric)
        language plpgsql as $$
        declare
          v_now timestamptz := clock_timestamp();
          v_minute bigint := floor(extract(epoch from v_now) / 60);
          v_requests integer;
          v_tokens bigint;
          v_held integer;
        begin
          perform pg_advisory_xact_lock(${sql.lit(ADMIT_LOCK_CLASS)}, hashtext(p_token));
          if p_line is not null then
            select s.spend into spend from tollgate_limit_spend s where s.token = p_token;
            if not found then verdict := 'seed'; return; end if;
            if spend >= p_line then verdict := 'budget'; return; end if;
          end if;
          if p_rpm is not null or p_tpm is not null then
            select w.requests, w.tokens into v_requests, v_tokens from tollgate_limit_windows w where w.token = p_token and w.minute = v_minute;
            if p_rpm is not null and coalesce(v_requests, 0) >= p_rpm then verdict := 'rpm'; return; end if;
            if p_tpm is not null and coalesce(v_tokens, 0) >= p_tpm then verdict := 'tpm'; return; end if;
          end if;
          if p_parallel is not null then
            delete from tollgate_limit_slots s where s.token = p_token and s.expires_at <= v_now;
            select count(*) into v_held from tollgate_limit_slots s where s.token = p_token;
            if v_held >= p_parallel then verdict := 'parallel'; return; end if;
            insert into tollgate_limit_slots (token, slot, expires_at) values (p_token, p_slot, v_now + p_slot_ttl_ms * interval '1 millisecond');
          end if;
          if p_rpm is not null or p_tpm is not null then
            insert into tollgate_limit_windows as w (token, minute, requests) values (p_token, v_minute, 1)
              on conflict (token, minute) do update set requests = w.requests + 1;
          end if;
          verdict := 'ok';
        end $$`.execute(db);
      // A request ended: its slot is freed and its tokens added to the minute's.
      await sql`
        create function tollgate_limits_release(p_token text, p_slot uuid, p_tokens bigint) returns void
        language sql as $$
          delete from tollgate_limit_slots where token = p_token and slot = p_slot;
          insert into tollgate_limit_windows as w (token, minute, tokens)
            select p_token, floor(extract(epoch from clock_timestamp()) / 60), p_tokens where p_tokens > 0
            on conflict (token, minute) do update set tokens = w.tokens + excluded.tokens;
        $$`.execute(db);
      // What no admission will read again: past minutes, expired slots, spend counters idle for
      // p_idle_ms (seeded again from the ledger if their key comes back).
      await sql`
        create function tollgate_limits_sweep(p_idle_ms bigint) returns void
        language sql as $$
          delete from tollgate_limit_windows where minute < floor(extract(epoch from clock_timestamp()) / 60) - 1;
          delete from tollgate_limit_slots where expires_at <= clock_timestamp();
          delete from tollgate_limit_spend where touched_at < clock_timestamp() - p_idle_ms * interval '1 millisecond';
        $$`.execute(db);
    },
  },
};
