export interface Page<T> {
  data: T[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/** Anthropic-style list page: `limit` (default 20, 1..1000), `after_id` or `before_id` cursors. */
export function paginate<T extends { id: string }>(items: readonly T[], query: URLSearchParams): Page<T> {
  const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 20) || 20));
  const after = query.get('after_id');
  const before = query.get('before_id');
  let data: T[];
  let hasMore: boolean;
  if (before !== null) {
    const end = Math.max(0, items.findIndex((item) => item.id === before));
    data = items.slice(Math.max(0, end - limit), end);
    hasMore = end - limit > 0;
  } else {
    const start = after === null ? 0 : items.findIndex((item) => item.id === after) + 1;
    data = items.slice(start, start + limit);
    hasMore = start + limit < items.length;
  }
  return { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
