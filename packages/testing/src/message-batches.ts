import { errorBody, errorReply, estimateInputTokens, messageJson, randomId } from './anthropic-fixtures.js';
import { paginate } from './pagination.js';
import type { RecordedRequest } from './recorded-request.js';
import type { Reply } from './reply.js';

/** Content type of `GET /v1/messages/batches/:id/results` (what the Anthropic SDK asks for). */
export const BATCH_RESULTS_CONTENT_TYPE = 'application/binary';

export interface BatchRequest {
  custom_id: string;
  params: Record<string, unknown>;
}

export interface MessageBatch {
  id: string;
  type: 'message_batch';
  processing_status: 'in_progress' | 'canceling' | 'ended';
  request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
  ended_at: string | null;
  created_at: string;
  expires_at: string;
  cancel_initiated_at: string | null;
  archived_at: string | null;
  results_url: string | null;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * In-memory Message Batches. Batches end as soon as they are created, unless `holdNew` is set:
 * then they stay `in_progress` (no results yet) until `end(id)`. A request whose custom_id
 * starts with `err` yields an errored result, every other one a succeeded Message.
 */
export class MessageBatchStore {
  private readonly batches = new Map<string, { batch: MessageBatch; requests: readonly BatchRequest[]; results?: string; baseUrl: string }>();
  /** New batches stay in progress until `end(id)`. */
  holdNew = false;

  create(requests: readonly BatchRequest[], baseUrl: string): MessageBatch {
    const id = randomId('msgbatch_');
    const now = new Date();
    const batch: MessageBatch = {
      id,
      type: 'message_batch',
      processing_status: 'in_progress',
      request_counts: { processing: requests.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
      ended_at: null,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + DAY_MS).toISOString(),
      cancel_initiated_at: null,
      archived_at: null,
      results_url: null,
    };
    this.batches.set(id, { batch, requests, baseUrl });
    if (!this.holdNew) this.end(id, now);
    return batch;
  }

  /** Ends a batch: every request gets its result (canceled, if it was being canceled), and the results file its URL. */
  end(id: string, at = new Date()): MessageBatch | undefined {
    const entry = this.batches.get(id);
    if (!entry || entry.batch.processing_status === 'ended') return entry?.batch;
    const { batch, requests } = entry;
    // A batch being canceled ends with every request canceled.
    const canceled = batch.processing_status === 'canceling';
    const errored = canceled ? 0 : requests.filter((r) => r.custom_id.startsWith('err')).length;
    const result = (r: BatchRequest) => (canceled ? { type: 'canceled' } : batchResult(r));
    entry.results = requests.map((r) => JSON.stringify({ custom_id: r.custom_id, result: result(r) }) + '\n').join('');
    batch.processing_status = 'ended';
    batch.request_counts = canceled
      ? { processing: 0, succeeded: 0, errored: 0, canceled: requests.length, expired: 0 }
      : { processing: 0, succeeded: requests.length - errored, errored, canceled: 0, expired: 0 };
    batch.ended_at = at.toISOString();
    batch.results_url = `${entry.baseUrl}/v1/messages/batches/${id}/results`;
    return batch;
  }

  /** Newest first, like the API. */
  list(): MessageBatch[] {
    return [...this.batches.values()].map((b) => b.batch).reverse();
  }

  get(id: string): MessageBatch | undefined {
    return this.batches.get(id)?.batch;
  }

  /** In-progress batches move to 'canceling' (`end` then finishes them); ended ones are returned unchanged. */
  cancel(id: string): MessageBatch | undefined {
    const batch = this.get(id);
    if (batch && batch.processing_status === 'in_progress') {
      batch.processing_status = 'canceling';
      batch.cancel_initiated_at = new Date().toISOString();
    }
    return batch;
  }

  delete(id: string): boolean {
    return this.batches.delete(id);
  }

  /** The results file (JSONL, one line per request in request order); undefined until the batch ends. */
  results(id: string): string | undefined {
    return this.batches.get(id)?.results;
  }

  clear(): void {
    this.batches.clear();
    this.holdNew = false;
  }
}

/** Serves `/v1/messages/batches…`; undefined when the path is not a batches path. */
export function batchesApi(store: MessageBatchStore, req: RecordedRequest, pathname: string, baseUrl: string): Reply | undefined {
  const query = new URLSearchParams(req.path.split('?')[1] ?? '');
  if (pathname === '/v1/messages/batches') {
    if (req.method === 'GET') return { json: paginate(store.list(), query) };
    if (req.method === 'POST') return createBatch(store, req, baseUrl);
    return undefined;
  }
  const match = /^\/v1\/messages\/batches\/([^/]+)(\/results|\/cancel)?$/.exec(pathname);
  if (!match) return undefined;
  const [, id, action = ''] = match;
  const route = `${req.method} ${action}`;
  if (!['GET ', 'DELETE ', 'POST /cancel', 'GET /results'].includes(route)) return undefined;
  const batch = store.get(id);
  if (!batch) return errorReply('not_found_error', `Batch not found: ${id}`);
  if (route === 'GET ') return { json: batch };
  if (route === 'POST /cancel') return { json: store.cancel(id) };
  if (route === 'DELETE ') {
    store.delete(id);
    return { json: { id, type: 'message_batch_deleted' } };
  }
  const results = store.results(id);
  if (results === undefined) return errorReply('invalid_request_error', `Batch ${id} has not ended yet; its results are not available`);
  return { headers: { 'content-type': BATCH_RESULTS_CONTENT_TYPE }, body: results };
}

function createBatch(store: MessageBatchStore, req: RecordedRequest, baseUrl: string): Reply {
  const requests = (req.json() as { requests?: unknown } | undefined)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    return errorReply('invalid_request_error', 'requests: Field required and must be a non-empty array');
  }
  const invalid = requests.findIndex((r) => typeof r?.custom_id !== 'string' || typeof r?.params !== 'object' || r.params === null);
  if (invalid >= 0) {
    return errorReply('invalid_request_error', `requests.${invalid}: custom_id (string) and params (object) are required`);
  }
  return { json: store.create(requests as BatchRequest[], baseUrl) };
}

function batchResult(r: BatchRequest) {
  if (r.custom_id.startsWith('err')) {
    return { type: 'errored', error: errorBody('invalid_request_error', `mock error for request ${r.custom_id}`) };
  }
  const model = typeof r.params.model === 'string' ? r.params.model : undefined;
  const message = messageJson({ model, usage: { input_tokens: estimateInputTokens(r.params), service_tier: 'batch' } });
  return { type: 'succeeded', message };
}
