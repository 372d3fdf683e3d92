import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { createLineTap, createSseTap } from './body-tap.js';
import type { SseEvent } from './context.js';

const STREAM = 'event: message_start\ndata: {"a":1}\n\nevent: ping\ndata: {}\n\n: comment\n\nevent: message_delta\ndata: {"é":"ü"}\n\ndata: plain\n\n';
const EXPECTED: SseEvent[] = [
  { event: 'message_start', data: '{"a":1}' },
  { event: 'ping', data: '{}' },
  { event: 'message_delta', data: '{"é":"ü"}' },
  { event: 'message', data: 'plain' },
];

async function run(chunks: Buffer[], encoding?: string): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  const tap = createSseTap(encoding, (e) => seen.push(e));
  for (const c of chunks) tap.write(c);
  await tap.end();
  return seen;
}

describe('createSseTap', () => {
  it('reads many events from one chunk', async () => {
    expect(await run([Buffer.from(STREAM)])).toEqual(EXPECTED);
  });

  it('reads events split across chunks at every byte, multi-byte characters included', async () => {
    const bytes = Buffer.from(STREAM);
    const oneByteChunks = [...bytes].map((b) => Buffer.from([b]));
    expect(await run(oneByteChunks)).toEqual(EXPECTED);
  });

  it('ignores a UTF-8 byte order mark, also when it comes a byte at a time', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(STREAM)]);
    expect(await run([bytes])).toEqual(EXPECTED);
    expect(await run([...bytes.subarray(0, 4)].map((b) => Buffer.from([b])).concat(bytes.subarray(4)))).toEqual(EXPECTED);
  });

  it('reads invalid UTF-8 as U+FFFD instead of failing', async () => {
    expect(await run([Buffer.from('event: x\ndata: a'), Buffer.from([0xff]), Buffer.from('b\n\n')])).toEqual([{ event: 'x', data: 'a\ufffdb' }]);
  });

  it('handles CRLF line endings', async () => {
    expect(await run([Buffer.from('event: x\r\ndata: 1\r\n\r\n')])).toEqual([{ event: 'x', data: '1' }]);
  });

  it('decodes gzip on the side', async () => {
    const gz = gzipSync(Buffer.from(STREAM));
    expect(await run([gz.subarray(0, 7), gz.subarray(7)], 'gzip')).toEqual(EXPECTED);
  });

  it('sees nothing, and does not throw, for an encoding it cannot read', async () => {
    expect(await run([Buffer.from('garbage')], 'zstd')).toEqual([]);
  });

  it('ends cleanly on a corrupt gzip stream', async () => {
    expect(await run([Buffer.from('not gzip at all')], 'gzip')).toEqual([]);
  });
});

describe('createLineTap', () => {
  it('reads JSON lines split anywhere, skipping blank lines, including a last line without a newline', async () => {
    const text = '{"a":1}\n\n{"b":"é"}\r\n{"c":3}';
    const seen: string[] = [];
    const tap = createLineTap(undefined, (e) => seen.push(`${e.event}:${e.data}`));
    for (const b of Buffer.from(text)) tap.write(Buffer.from([b]));
    await tap.end();
    expect(seen).toEqual(['line:{"a":1}', 'line:{"b":"é"}', 'line:{"c":3}']);
  });
});
