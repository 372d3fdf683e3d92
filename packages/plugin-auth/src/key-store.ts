import { usdToPico, type Pico } from '@tollgate/core';
import { sql, type Kysely, type Migration, type Storage } from '@tollgate/storage';

/** A virtual key as the gateway holds it in memory (never the key itself, only its hash). */
export interface VirtualKey {
  token: string;
  keyName: string;
  keyAlias: string | null;
  userId: string | null;
  teamId: string | null;
  models: string[];
  /** Exact decimal USD as given, or null for no budget. */
  maxBudget: string | null;
  budgetDuration: string | null;
  /** Epoch ms when the current budget window ends. */
  budgetResetAt: number | null;
  /** Total spend of the key when the current window began (pico-USD). */
  budgetSpendOffset: Pico;
  /** Epoch ms, or null for never. */
  expires: number | null;
  metadata: Record<string, unknown>;
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallelRequests: number | null;
  blocked: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A key with no alias, owner, limits, budget or expiry, made at `now`. */
export function newVirtualKey(token: string, keyName: string, now: number): VirtualKey {
  return {
    token,
    keyName,
    keyAlias: null,
    userId: null,
    teamId: null,
    models: [],
    maxBudget: null,
    budgetDuration: null,
    budgetResetAt: null,
    budgetSpendOffset: 0n,
    expires: null,
    metadata: {},
    rpmLimit: null,
    tpmLimit: null,
    maxParallelRequests: null,
    blocked: false,
    createdAt: now,
    updatedAt: now,
  };
}

type KeyRow = {
  token: string;
  key_name: string;
  key_alias: string | null;
  user_id: string | null;
  team_id: string | null;
  models: string;
  max_budget: string | null;
  budget_duration: string | null;
  budget_reset_at: number | null;
  budget_spend_offset: string;
  expires: number | null;
  metadata: string;
  rpm_limit: number | null;
  tpm_limit: number | null;
  max_parallel_requests: number | null;
  blocked: number;
  created_at: number;
  updated_at: number;
};

type Tables = {
  tollgate_keys: KeyRow;
};

export const keyMigrations: Record<string, Migration> = {
  '001_keys': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tollgate_keys')
        .addColumn('token', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('key_name', 'varchar(16)', (c) => c.notNull())
        .addColumn('key_alias', 'text', (c) => c.unique())
        .addColumn('user_id', 'text')
        .addColumn('team_id', 'text')
        .addColumn('models', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('max_budget', 'text')
        .addColumn('budget_duration', 'text')
        .addColumn('budget_reset_at', 'bigint')
        .addColumn('budget_spend_offset', 'text', (c) => c.notNull().defaultTo('0'))
        .addColumn('expires', 'bigint')
        .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('rpm_limit', 'integer')
        .addColumn('tpm_limit', 'integer')
        .addColumn('max_parallel_requests', 'integer')
        .addColumn('blocked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tollgate_keys_user_id').on('tollgate_keys').column('user_id').execute();
      await db.schema.createIndex('tollgate_keys_team_id').on('tollgate_keys').column('team_id').execute();
    },
  },
};

/** Virtual keys in the shared storage (SQLite or PostgreSQL), through Kysely. */
export class KeyStore {
  private readonly db: Kysely<Tables>;

  constructor(storage: Storage) {
    this.db = storage.db.withTables<Tables>() as unknown as Kysely<Tables>;
  }

  async insert(key: VirtualKey): Promise<void> {
    await this.db.insertInto('tollgate_keys').values(toRow(key)).execute();
  }

  async get(token: string): Promise<VirtualKey | undefined> {
    const row = await this.db.selectFrom('tollgate_keys').selectAll().where('token', '=', token).executeTakeFirst();
    return row && fromRow(row);
  }

  async getByAlias(alias: string): Promise<VirtualKey | undefined> {
    const row = await this.db.selectFrom('tollgate_keys').selectAll().where('key_alias', '=', alias).executeTakeFirst();
    return row && fromRow(row);
  }

  /** Writes every field of `key` (looked up by `previousToken` when the token changes). */
  async save(key: VirtualKey, previousToken = key.token): Promise<void> {
    await this.db.updateTable('tollgate_keys').set(toRow(key)).where('token', '=', previousToken).execute();
  }

  async delete(tokens: string[]): Promise<string[]> {
    if (tokens.length === 0) return [];
    const rows = await this.db.deleteFrom('tollgate_keys').where('token', 'in', tokens).returning('token').execute();
    return rows.map((r) => r.token);
  }

  /** `search`: keys whose alias, user or team starts with it (LIKE wildcards in it match themselves). */
  async list(options: { offset: number; limit: number; userId?: string; teamId?: string; alias?: string; search?: string }): Promise<{ keys: VirtualKey[]; total: number }> {
    let q = this.db.selectFrom('tollgate_keys');
    if (options.userId !== undefined) q = q.where('user_id', '=', options.userId);
    if (options.teamId !== undefined) q = q.where('team_id', '=', options.teamId);
    if (options.alias !== undefined) q = q.where('key_alias', '=', options.alias);
    if (options.search !== undefined) {
      const like = `${options.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where((eb) => eb.or(['key_alias', 'user_id', 'team_id'].map((c) => eb(sql.ref(c), 'like', sql`${like} escape '\\'`))));
    }
    const [{ n }] = await q.select((eb) => eb.fn.countAll<number | string>().as('n')).execute();
    const rows = await q.selectAll().orderBy('created_at', 'desc').orderBy('token').offset(options.offset).limit(options.limit).execute();
    return { keys: rows.map(fromRow), total: Number(n) };
  }

  async countWithBudget(): Promise<number> {
    const [{ n }] = await this.db.selectFrom('tollgate_keys').where('max_budget', 'is not', null).select((eb) => eb.fn.countAll<number | string>().as('n')).execute();
    return Number(n);
  }
}

function toRow(k: VirtualKey): KeyRow {
  return {
    token: k.token,
    key_name: k.keyName,
    key_alias: k.keyAlias,
    user_id: k.userId,
    team_id: k.teamId,
    models: JSON.stringify(k.models),
    max_budget: k.maxBudget,
    budget_duration: k.budgetDuration,
    budget_reset_at: k.budgetResetAt,
    budget_spend_offset: k.budgetSpendOffset.toString(),
    expires: k.expires,
    metadata: JSON.stringify(k.metadata),
    rpm_limit: k.rpmLimit,
    tpm_limit: k.tpmLimit,
    max_parallel_requests: k.maxParallelRequests,
    blocked: k.blocked ? 1 : 0,
    created_at: k.createdAt,
    updated_at: k.updatedAt,
  };
}

function fromRow(r: KeyRow): VirtualKey {
  return {
    token: r.token,
    keyName: r.key_name,
    keyAlias: r.key_alias,
    userId: r.user_id,
    teamId: r.team_id,
    models: JSON.parse(r.models) as string[],
    maxBudget: r.max_budget,
    budgetDuration: r.budget_duration,
    budgetResetAt: r.budget_reset_at === null ? null : Number(r.budget_reset_at),
    budgetSpendOffset: BigInt(r.budget_spend_offset),
    expires: r.expires === null ? null : Number(r.expires),
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    rpmLimit: r.rpm_limit,
    tpmLimit: r.tpm_limit,
    maxParallelRequests: r.max_parallel_requests,
    blocked: Number(r.blocked) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The budget in pico-USD, or undefined for none. */
export function budgetPico(key: VirtualKey): Pico | undefined {
  return key.maxBudget === null ? undefined : usdToPico(key.maxBudget);
}
