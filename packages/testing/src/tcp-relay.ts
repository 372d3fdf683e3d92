import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * How the relay treats connections:
 * - `pass`: relays bytes both ways;
 * - `refuse`: new connections are closed at once (existing ones keep flowing);
 * - `blackhole`: new and existing connections stay open but no byte moves either way (bytes
 *   are held, as TCP retransmits across a partition, and flow again once the mode changes);
 * - `slow`: every chunk is held `delayMs` before it is passed on.
 */
export type RelayMode = 'pass' | 'refuse' | 'blackhole' | 'slow';

export interface TcpRelay {
  /** `host:port` clients connect to instead of the target. */
  readonly host: string;
  readonly port: number;
  /** Open client connections (each with its upstream twin). */
  readonly connections: number;
  /** Chunks held back by `blackhole` so far (not yet passed on). */
  readonly held: number;
  /** Switches how new bytes and connections are treated from now on. */
  setMode(mode: RelayMode, options?: { delayMs?: number }): void;
  /** Resets (RST) every open connection, both sides; the relay keeps accepting. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay the test controls, placed in front of PostgreSQL or Redis to show what the
 * gateway does when its database resets, refuses, stalls or slows down.
 *
 * @example
 * const relay = await createTcpRelay({ port: 5432 });
 * // DATABASE_URL=postgres://127.0.0.1:${relay.port}/test
 * relay.setMode('blackhole');
 */
export async function createTcpRelay(target: { host?: string; port: number }): Promise<TcpRelay> {
  const targetHost = target.host ?? '127.0.0.1';
  let mode: RelayMode = 'pass';
  let delayMs = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let held: (() => void)[] = [];

  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole') {
        from.pause();
        held.push(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        });
        return;
      }
      if (mode === 'slow') {
        from.pause();
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
          from.resume();
        }, delayMs);
        return;
      }
      if (!to.destroyed && !to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  };

  const server: Server = createServer((client) => {
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const reset = () => {
    for (const { client, upstream } of [...pairs]) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    pairs.clear();
    held = [];
  };

  return {
    host: '127.0.0.1',
    port,
    get connections() {
      return pairs.size;
    },
    get held() {
      return held.length;
    },
    setMode(next, options = {}) {
      mode = next;
      delayMs = options.delayMs ?? 0;
      if (mode !== 'blackhole') {
        const release = held;
        held = [];
        for (const pass of release) pass();
      }
    },
    reset,
    close() {
      reset();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
