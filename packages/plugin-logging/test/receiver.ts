import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { until } from '@tollgate/testing';

export interface Post {
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
}

/** A decoded OTLP span: attributes as a plain object, the resource's too. */
export interface DecodedSpan {
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  status: { code: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: string;
}

export interface Receiver {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every POST answered (hanging ones are not here). */
  posts: Post[];
  /** How many requests arrived, answered or not. */
  arrived: number;
  /** 'ok' (default): 200 `{}`; 'hang': never answer; a number: that status. */
  mode: 'ok' | 'hang' | number;
  /** Every span of every OTLP POST, in arrival order. */
  spans(): DecodedSpan[];
  close(): Promise<void>;
}

/** A local HTTP server on port 0 standing in for an OTLP collector or a webhook. */
export async function startReceiver(mode: Receiver['mode'] = 'ok'): Promise<Receiver> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.arrived++;
      if (receiver.mode === 'hang') return;
      receiver.posts.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const status = receiver.mode === 'ok' ? 200 : receiver.mode;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{}' : '{"error":"scripted"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts: [],
    arrived: 0,
    mode,
    spans: () => receiver.posts.flatMap((p) => decodeOtlp(p.body)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return receiver;
}

/** A URL nothing listens on: connections are refused. */
export async function refusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Flattens an OTLP/JSON ExportTraceServiceRequest into spans with plain attributes. */
export function decodeOtlp(body: any): DecodedSpan[] {
  return body.resourceSpans.flatMap((rs: any) =>
    rs.scopeSpans.flatMap((ss: any) =>
      ss.spans.map((s: any) => ({ ...s, attributes: attributes(s.attributes), resource: attributes(rs.resource.attributes), scope: ss.scope.name })),
    ),
  );
}

function attributes(list: { key: string; value: any }[]): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, anyValue(kv.value)]));
}

function anyValue(v: any): unknown {
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return v.arrayValue.values.map(anyValue);
  throw new Error(`unknown OTLP value ${JSON.stringify(v)}`);
}

/** Re-exported for the tests that import it from here. */
export { until };
