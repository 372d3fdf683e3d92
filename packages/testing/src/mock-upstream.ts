import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { anthropicApi } from './anthropic-api.js';
import { errorBody, errorReply } from './anthropic-fixtures.js';
import { CostReportStore } from './cost-report.js';
import { MessageBatchStore } from './message-batches.js';
import { createExchange, readBody, type RecordedRequest } from './recorded-request.js';
import type { Reply } from './reply.js';
import { RouteTable, type RouteReply } from './route-table.js';
import { sendReply } from './send-reply.js';

export interface MockUpstreamOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Default true; false keeps `requests` empty (for benchmarks). */
  record?: boolean;
  /** When set, requests whose `x-api-key` differs get 401 authentication_error. */
  apiKey?: string;
}

export interface MockUpstream {
  /** e.g. http://127.0.0.1:54321 */
  readonly url: string;
  readonly port: number;
  /** Every request received, in arrival order (empty forever with `record: false`). */
  readonly requests: RecordedRequest[];
  /** The in-memory Message Batches behind the default `/v1/messages/batches` routes. */
  readonly batches: MessageBatchStore;
  /** The costs behind the default `GET /v1/organizations/cost_report` (Admin API). */
  readonly costReport: CostReportStore;
  /** Persistent route; the newest matching route wins. Path: exact pathname (query excluded) or RegExp. */
  route(method: string, path: string | RegExp, reply: RouteReply): void;
  /** One-shot route, FIFO, checked before persistent routes. */
  once(method: string, path: string | RegExp, reply: RouteReply): void;
  /** Resolves (a copy of `requests`) once at least `n` requests arrived; rejects after `timeoutMs` (default 5000). */
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Forgets recorded requests, routes, batches and cost-report entries. */
  reset(): void;
  /** Closes the server and destroys every open socket (hanging requests too). Idempotent. */
  close(): Promise<void>;
}

/** Starts a mock Anthropic API on a real HTTP server. */
export async function createMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const mock = new MockUpstreamServer(opts);
  await mock.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return mock;
}

class MockUpstreamServer implements MockUpstream {
  readonly requests: RecordedRequest[] = [];
  readonly batches = new MessageBatchStore();
  readonly costReport = new CostReportStore();
  private readonly routes = new RouteTable();
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly sockets = new Set<Socket>();
  private readonly waiters = new Set<() => void>();
  private readonly shutdown = new AbortController();
  private closing: Promise<void> | undefined;
  private baseUrl = '';

  constructor(private readonly opts: MockUpstreamOptions) {
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return this.baseUrl;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  route(method: string, path: string | RegExp, reply: RouteReply): void {
    this.routes.add(method, path, reply);
  }

  once(method: string, path: string | RegExp, reply: RouteReply): void {
    this.routes.addOnce(method, path, reply);
  }

  waitForRequests(n: number, timeoutMs = 5000): Promise<RecordedRequest[]> {
    return new Promise((resolve, reject) => {
      if (this.requests.length >= n) return resolve([...this.requests]);
      const check = () => {
        if (this.requests.length < n) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve([...this.requests]);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`waitForRequests: expected ${n} request(s), got ${this.requests.length} within ${timeoutMs}ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  reset(): void {
    this.requests.length = 0;
    this.routes.clear();
    this.batches.clear();
    this.costReport.clear();
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.shutdown.abort();
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      return; // the client went away while sending the body
    }
    const x = createExchange(req, res, body, this.shutdown.signal);
    if (this.opts.record !== false) {
      this.requests.push(x.recorded);
      for (const waiter of [...this.waiters]) waiter();
    }
    try {
      await sendReply(x, await this.replyFor(x.recorded));
    } catch (err) {
      const message = `mock upstream reply failed: ${err instanceof Error ? err.message : String(err)}`;
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody('api_error', message)));
    }
  }

  private async replyFor(recorded: RecordedRequest): Promise<Reply> {
    if (this.opts.apiKey !== undefined && recorded.headers['x-api-key'] !== this.opts.apiKey) {
      return errorReply('authentication_error', 'invalid x-api-key');
    }
    const scripted = this.routes.take(recorded.method, recorded.path.split('?')[0]);
    if (scripted !== undefined) return typeof scripted === 'function' ? scripted(recorded) : scripted;
    return anthropicApi(recorded, { baseUrl: this.url, batches: this.batches, costReport: this.costReport });
  }
}
