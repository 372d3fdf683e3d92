import { GatewayError, type PluginApi } from '@tollgate/core';
import { diffPrices } from './price-diff.js';
import { parseFile, type LivePriceBook } from './price-source.js';
import { requireSpendAdmin } from './spend-routes.js';

/**
 * How the price book changes without a restart: `POST /prices/reload` (admin; what `tollgate
 * prices reload` calls), SIGHUP, and every `reloadEveryMs` when that is set; and `POST
 * /prices/diff` {name, content}: the changes a price file would make, nothing applied. A
 * reload that fails keeps the prices in force; SIGHUP and the timer log why.
 */
export function registerPriceReload(api: PluginApi<any>, live: LivePriceBook, reloadEveryMs: number): void {
  api.route('POST', '/prices/reload', async (req) => {
    requireSpendAdmin(api, req);
    const r = await live.reload();
    return { body: { reloaded: true, models: r.models, loaded_at: r.loadedAt } };
  });
  api.route('POST', '/prices/diff', async (req) => {
    requireSpendAdmin(api, req);
    const body = (await req.json()) as { name?: unknown; content?: unknown } | null;
    if (typeof body?.content !== 'string') throw new GatewayError('TG_ERR_BAD_REQUEST', 'content must be the text of a price file (JSON or YAML)');
    const name = typeof body.name === 'string' && body.name !== '' ? body.name : 'prices.yaml';
    let candidate;
    try {
      candidate = await live.candidate({ label: name, data: parseFile(name, body.content) });
    } catch (err) {
      throw new GatewayError('TG_ERR_BAD_REQUEST', `this price file would be refused: ${(err as Error).message}`);
    }
    return { body: { changes: diffPrices(live.models(), candidate.models()) } };
  });

  // Failures are logged by reload() itself; the book in force stays.
  const quietReload = () => void live.reload().catch(() => undefined);
  process.on('SIGHUP', quietReload);
  api.onClose(() => void process.off('SIGHUP', quietReload));
  if (reloadEveryMs > 0) {
    const timer = setInterval(quietReload, reloadEveryMs);
    timer.unref();
    api.onClose(() => clearInterval(timer));
  }
}
