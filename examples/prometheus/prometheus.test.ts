// Runs examples/prometheus against a real gateway: its tollgate.yaml boots with the mock
// upstream, traffic goes through the Anthropic SDK, and the scrape config and the Grafana
// dashboard are checked against the live /metrics output: every metric the dashboard queries
// exists and has samples, and every label it filters or groups by is on those samples.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { loadConfig } from '@tollgate/core';
import { authPlugin } from '@tollgate/plugin-auth';
import { storagePlugin } from '@tollgate/storage';
import { createMockUpstream, errorReply, messageJson, messageStreamEvents, type MockUpstream } from '@tollgate/testing';
import { costPlugin } from '@tollgate/plugin-cost';
import { prometheusPlugin } from '@tollgate/plugin-prometheus';
import { parse as parseYaml } from 'yaml';
import { EXAMPLES, MASTER_KEY, startGateway, UPSTREAM_KEY, type ExampleGateway } from '../test/helpers.js';

const DIR = join(EXAMPLES, 'prometheus');
const modules = { '@tollgate/storage': storagePlugin, '@tollgate/plugin-auth': authPlugin, '@tollgate/plugin-cost': costPlugin, '@tollgate/plugin-prometheus': prometheusPlugin };
const PARAMS = { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'Hi' }] };

interface Family {
  type: string;
  samples: number;
  labels: Set<string>;
}

/** Metric families of a text exposition: type, sample count, label names seen. */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) out.set(t[1], { type: t[2], samples: 0, labels: new Set() });
    const s = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!s) continue;
    const name = out.has(s[1]) ? s[1] : s[1].replace(/_(bucket|sum|count)$/, '');
    const f = out.get(name);
    if (!f) throw new Error(`sample without a # TYPE: ${line}`);
    f.samples++;
    for (const m of (s[2] ?? '').matchAll(/(\w+)="/g)) f.labels.add(m[1]);
  }
  return out;
}

let upstream: MockUpstream;
let t: ExampleGateway;
let dataDir: string;
let exposition: Map<string, Family>;
let dashboard: any;

beforeAll(async () => {
  upstream = await createMockUpstream();
  dataDir = await mkdtemp(join(tmpdir(), 'tollgate-prometheus-example-'));
  const env = { PORT: '0', HOST: '127.0.0.1', ANTHROPIC_BASE_URL: upstream.url, ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY, DATABASE_URL: 'file::memory:', TOLLGATE_DATA_DIR: dataDir };
  t = await startGateway({ upstream, config: await loadConfig(join(DIR, 'tollgate.yaml'), env), modules, env });

  // Traffic that gives every dashboard panel data: a key with a budget and limits, a message
  // for an end user, a stream, an unpriced model and an upstream error.
  const res = await fetch(`${t.url}/key/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': MASTER_KEY },
    body: JSON.stringify({ key_alias: 'dashboards', team_id: 'observability', max_budget: 5, rpm_limit: 600, tpm_limit: 1_000_000, max_parallel_requests: 8 }),
  });
  const sdk = new Anthropic({ apiKey: ((await res.json()) as { key: string }).key, baseURL: `${t.url}/anthropic`, maxRetries: 0 });
  upstream.once('POST', '/v1/messages', { json: messageJson({ model: PARAMS.model, usage: { input_tokens: 1000, output_tokens: 200 } }) });
  await sdk.messages.create({ ...PARAMS, metadata: { user_id: 'end-user-1' } });
  upstream.once('POST', '/v1/messages', { sse: messageStreamEvents({ model: PARAMS.model, text: ['a', 'b'] }) });
  for await (const _ of await sdk.messages.create({ ...PARAMS, stream: true })) void _;
  // A key with a budget may not use a model the gateway cannot price: this one goes with the master key.
  const master = new Anthropic({ apiKey: MASTER_KEY, baseURL: `${t.url}/anthropic`, maxRetries: 0 });
  upstream.once('POST', '/v1/messages', { json: messageJson({ model: 'claude-unknown-9' }) });
  await master.messages.create({ ...PARAMS, model: 'claude-unknown-9' });
  upstream.once('POST', '/v1/messages', errorReply('overloaded_error', 'busy'));
  await expect(sdk.messages.create(PARAMS)).rejects.toMatchObject({ status: 529 });
  await t.waitForRecords(4);

  // Scrape the way prometheus.yml says.
  const job = parseYaml(await readFile(join(DIR, 'prometheus.yml'), 'utf8')).scrape_configs[0];
  expect((await fetch(`${t.url}${job.metrics_path}`)).status).toBe(401);
  // credentials_file holds the master key here (or a metricsKey).
  const scrape = await fetch(`${t.url}${job.metrics_path}`, { headers: { authorization: `${job.authorization.type} ${MASTER_KEY}` } });
  expect(scrape.status).toBe(200);
  exposition = families(await scrape.text());
  dashboard = JSON.parse(await readFile(join(DIR, 'grafana-dashboard.json'), 'utf8'));
});
afterAll(async () => {
  await t.close();
  await upstream.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Every PromQL expression in the dashboard: panel targets and template variable queries. */
function expressions(): string[] {
  const panels = dashboard.panels.flatMap((p: any) => [p, ...(p.panels ?? [])]);
  const targets = panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr as string));
  const variables = dashboard.templating.list.filter((v: any) => v.type === 'query').map((v: any) => v.query.query as string);
  return [...targets, ...variables];
}

/** Metric families an expression reads (histogram series resolved to their family). */
function metricsOf(expr: string): string[] {
  const names = [...expr.matchAll(/\b((?:tollgate|process|nodejs)_\w+)/g)].map((m) => m[1]);
  return [...new Set(names.map((n) => (exposition.has(n) ? n : n.replace(/_(bucket|sum|count)$/, ''))))];
}

/** Labels an expression filters on (`{label=…}`), groups by (`by (…)`) or asks values of. */
function labelsOf(expr: string): string[] {
  const matchers = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1].matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]));
  const grouped = [...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((l) => l.trim()));
  const values = [...expr.matchAll(/label_values\(\w+, (\w+)\)/g)].map((m) => m[1]);
  return [...new Set([...matchers, ...grouped, ...values])].filter((l) => l !== 'le');
}

describe('examples/prometheus', () => {
  it('tollgate.yaml loads the metrics plugin with its documented options', () => {
    expect(t.gw.plugins.map((p) => p.name)).toEqual(['auth', 'metadata', 'prometheus', 'cost', 'storage']);
  });

  it('prometheus.yml scrapes the path the plugin serves, on the port the example listens on', async () => {
    const config = parseYaml(await readFile(join(DIR, 'prometheus.yml'), 'utf8'));
    expect(config.scrape_configs).toHaveLength(1);
    const [job] = config.scrape_configs;
    const example = await loadConfig(join(DIR, 'tollgate.yaml'), { ANTHROPIC_API_KEY: UPSTREAM_KEY, TOLLGATE_MASTER_KEY: MASTER_KEY });
    const plugin = example.plugins.find((p) => p.use === '@tollgate/plugin-prometheus')!;
    expect(job).toMatchObject({ job_name: 'tollgate', metrics_path: plugin.config.path, scheme: 'http', static_configs: [{ targets: [`localhost:${example.server.port}`] }] });
    // /metrics is protected by default: the job sends a key.
    expect(plugin.config.requireKey).toBeUndefined();
    expect(job.authorization).toEqual({ type: 'Bearer', credentials_file: '/etc/prometheus/tollgate-metrics-key' });
  });

  it('every metric the dashboard queries exists in the live output, with samples', () => {
    const used = new Set(expressions().flatMap(metricsOf));
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((name) => !exposition.has(name))).toEqual([]);
    // Only the cap's eviction counter is legitimately empty: nothing has been evicted.
    expect([...used].filter((name) => exposition.get(name)!.samples === 0)).toEqual(['tollgate_metric_series_evicted_total']);
  });

  it('every label the dashboard filters or groups by is on the metrics it queries', () => {
    const missing = expressions().flatMap((expr) => {
      const metrics = metricsOf(expr).filter((name) => exposition.get(name)!.samples > 0);
      return labelsOf(expr)
        .filter((label) => metrics.length > 0 && !metrics.some((name) => exposition.get(name)!.labels.has(label)))
        .map((label) => `${label} in ${expr}`);
    });
    expect(missing).toEqual([]);
  });

  it('the dashboard is well formed: unique ids, a data source and a query on every panel, variables defined', () => {
    const panels = dashboard.panels.filter((p: any) => p.type !== 'row');
    const ids = dashboard.panels.map((p: any) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets.length).toBeGreaterThan(0);
      expect(new Set(p.targets.map((t: any) => t.refId)).size).toBe(p.targets.length);
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
    }
    const defined = new Set(dashboard.templating.list.map((v: any) => v.name));
    const referenced = new Set(JSON.stringify(dashboard.panels).match(/\$(?!__)\w+|\$\{\w+\}/g)!.map((v) => v.replace(/[${}]/g, '')));
    expect([...referenced].filter((v) => !defined.has(v))).toEqual([]);
    for (const expr of expressions()) {
      for (const [open, close] of [['(', ')'], ['{', '}'], ['[', ']']]) expect(expr.split(open).length, expr).toBe(expr.split(close).length);
    }
  });
});
