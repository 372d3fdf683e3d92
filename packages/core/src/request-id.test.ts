import { describe, expect, it } from 'vitest';
import { requestId } from './request-id.js';

describe('requestId', () => {
  it('is a version 7 UUID carrying the time in milliseconds', () => {
    const at = Date.UTC(2026, 10, 26, 4, 30);
    const id = requestId(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  });

  it('sorts by creation time and never repeats', () => {
    const ids = [requestId(1_000), requestId(1_001), requestId(1_001), requestId(2_000_000_000_000)];
    expect([...ids].sort()).toEqual([ids[0], ...[ids[1], ids[2]].sort(), ids[3]]);
    expect(new Set(Array.from({ length: 10_000 }, () => requestId(5)))).toHaveProperty('size', 10_000);
  });
});
