import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** A request as the mock received it. */
export interface RecordedRequest {
  method: string;
  /** Path + query exactly as received (`req.url`). */
  path: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** `JSON.parse(body)`, or undefined when the body is empty or not JSON. */
  json(): any;
  /**
   * True when the connection closed before the mock finished its response and the mock did not
   * close it itself (i.e. the client — the gateway — went away). Stays false for `hangUp` replies
   * and for requests cut off by `close()`.
   */
  closedEarly: boolean;
  /** Resolves when the mock finished responding or the connection closed (whoever closed it). */
  done: Promise<void>;
}

/** One request/response pair in flight (internal). */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  recorded: RecordedRequest;
  /** Aborted when the response closes or the mock shuts down; cancels reply delays. */
  signal: AbortSignal;
  /** Destroys the socket on purpose (does not count as closedEarly). */
  hangUp(): void;
}

export function createExchange(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  serverSignal: AbortSignal,
): Exchange {
  const closed = new AbortController();
  let hungUp = false;
  const recorded: RecordedRequest = {
    method: req.method ?? '',
    path: req.url ?? '',
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body,
    json: () => parseJson(body),
    closedEarly: false,
    done: new Promise<void>((resolve) => {
      res.once('finish', resolve);
      res.once('close', () => {
        recorded.closedEarly = !res.writableFinished && !hungUp && !serverSignal.aborted;
        closed.abort();
        resolve();
      });
    }),
  };
  return {
    req,
    res,
    recorded,
    signal: AbortSignal.any([closed.signal, serverSignal]),
    hangUp() {
      hungUp = true;
      req.socket.destroy();
    },
  };
}

/** Reads a request body to the end. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): any {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
