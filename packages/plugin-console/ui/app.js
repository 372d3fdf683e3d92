// The Tollgate console: preact + htm, no build step. Every call goes to /ui/api/<admin route>,
// which the gateway forwards to that route with the signed-in session's key. The CSRF token
// lives in this module's memory only; the key never reaches the browser after sign-in.
import { h, render } from '/ui/vendor/preact.mjs';
import { useEffect, useRef, useState } from '/ui/vendor/hooks.mjs';
import htm from '/ui/vendor/htm.mjs';

const html = htm.bind(h);
let csrf = null;

async function call(path, { query, body } = {}) {
  const qs = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '' && v != null))}` : '';
  const post = body !== undefined;
  const res = await fetch(`${path}${qs}`, {
    method: post ? 'POST' : 'GET',
    headers: post ? { 'content-type': 'application/json', 'x-tollgate-csrf': csrf ?? '' } : {},
    body: post ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error(data?.error?.message ?? `HTTP ${res.status}`), { status: res.status });
  return data;
}
const api = (route, options) => call(`/ui/api${route}`, options);

const usd = (exact) => `$${exact ?? '0'}`;
const day = (daysAgo) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
const short = (token) => (token ? `${token.slice(0, 10)}…` : '—');

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/overview');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/overview');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

/** Loads `fn()` whenever `deps` change; returns [data, error, reload]. */
function useLoad(fn, deps) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then((data) => live && setState({ data, error: null }), (error) => live && setState({ data: null, error }));
    return () => { live = false; };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick((t) => t + 1)];
}

const Err = ({ error }) => (error ? html`<p class="error" role="alert">${error.message}</p>` : null);

function SignIn({ onSession }) {
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const input = e.target.elements.key;
    try {
      const s = await call('/ui/session', { body: { key: input.value } });
      input.value = '';
      onSession(s);
    } catch (err) { setError(err); }
  };
  return html`<section class="signin"><h1>Tollgate console</h1>
    <form onSubmit=${submit}><label>Master key or virtual key
      <input name="key" type="password" autocomplete="off" required /></label>
      <p><button class="primary" type="submit">Sign in</button></p></form><${Err} error=${error} /></section>`;
}

function Chart({ days, since }) {
  const el = useRef(null);
  useEffect(() => {
    if (!el.current || !window.uPlot) return undefined;
    // Every day of the window, zero where nothing was spent, so the axis spans the window.
    const spent = new Map(days.map((d) => [d.date, d.spend]));
    const xs = [];
    for (let t = Date.parse(`${since}T00:00:00Z`); t <= Date.now(); t += 86_400_000) xs.push(t / 1000);
    const ys = xs.map((x) => spent.get(new Date(x * 1000).toISOString().slice(0, 10)) ?? 0);
    const plot = new window.uPlot({
      width: Math.max(300, el.current.clientWidth), height: 220,
      series: [{}, { label: 'spend (USD)', stroke: '#3056d3', fill: 'rgba(48,86,211,.25)', points: { show: false }, paths: window.uPlot.paths.bars({ size: [0.6, 40] }) }],
      axes: [{}, { values: (u, v) => v.map((n) => `$${n}`) }],
    }, [xs, ys], el.current);
    return () => plot.destroy();
  }, [days, since]);
  return html`<div ref=${el} class="chart"></div>`;
}

const GROUPS = [['key', 'Keys'], ['user', 'Users'], ['team', 'Teams'], ['end_user', 'End users'], ['model', 'Models'], ['tag', 'Tags']];

function Top({ group, title, since }) {
  const [rows, error] = useLoad(() => api('/spend/report', { query: { group_by: group, start_date: since, limit: 5 } }), [group, since]);
  return html`<section data-top=${group}><h2>Top ${title.toLowerCase()}</h2><${Err} error=${error} />
    <table><tbody>${(rows ?? []).map((r) => html`<tr><td>${group === 'key' ? r.key_alias ?? short(r.key) : r.key ?? '(none)'}</td>
      <td class="num">${r.requests}</td><td class="num">${usd(r.spend_exact)}</td></tr>`)}</tbody></table></section>`;
}

function Budgets({ session }) {
  const [data, error] = useLoad(
    () => (session.role === 'admin'
      ? api('/key/list', { query: { return_full_object: 'true', size: 100 } }).then((r) => r.keys)
      : api('/key/info').then((r) => [{ ...r.info, token: r.key }])),
    [session.role],
  );
  const budgeted = (data ?? []).filter((k) => k.max_budget != null);
  return html`<section data-budgets><h2>Budget use</h2><${Err} error=${error} />
    ${budgeted.length === 0 ? html`<p class="muted">No key has a budget.</p>` : html`<table><tbody>${budgeted.map((k) => html`<tr>
      <td>${k.key_alias ?? short(k.token)}</td><td class="num">$${k.spend} of $${k.max_budget}</td>
      <td><div class="bar"><i style=${`width:${Math.min(100, (100 * k.spend) / k.max_budget)}%`}></i></div></td></tr>`)}</tbody></table>`}</section>`;
}

function Overview({ session }) {
  const [window_, setWindow] = useState(30);
  const since = day(window_ - 1);
  const [days, error] = useLoad(() => api('/spend/daily', { query: { start_date: since } }), [since]);
  const sum = (f) => (days ?? []).reduce((n, d) => n + d[f], 0);
  return html`<h1>Overview</h1>
    <div class="row"><label>Window<select value=${window_} onChange=${(e) => setWindow(Number(e.target.value))}>
      ${[1, 7, 30, 90].map((n) => html`<option value=${n}>last ${n} day${n > 1 ? 's' : ''}</option>`)}</select></label></div>
    <${Err} error=${error} />
    <section><div class="stats">
      <div class="stat" data-stat="spend"><b>${usd(exactSum((days ?? []).map((d) => d.spend_exact)))}</b>spend</div>
      <div class="stat" data-stat="requests"><b>${sum('requests')}</b>requests</div>
      <div class="stat" data-stat="failed"><b class=${sum('failed_requests') ? 'bad' : ''}>${sum('failed_requests')}</b>failed</div>
      <div class="stat" data-stat="unpriced"><b>${sum('unpriced_requests')}</b>unpriced</div></div>
      <h2>Spend per day</h2><${Chart} days=${days ?? []} since=${since} /></section>
    <div class="grid">${GROUPS.map(([g, t]) => html`<${Top} key=${g} group=${g} title=${t} since=${since} />`)}</div>
    <${Budgets} session=${session} />`;
}

/** Sums decimal USD strings exactly (as integer pico-dollars), as the gateway does. */
function exactSum(values) {
  const pico = values.reduce((n, v) => {
    const [whole, frac = ''] = v.split('.');
    return n + BigInt(whole) * 10n ** 12n + BigInt(frac.padEnd(12, '0'));
  }, 0n);
  const frac = (pico % 10n ** 12n).toString().padStart(12, '0').replace(/0+$/, '');
  return `${pico / 10n ** 12n}${frac ? `.${frac}` : ''}`;
}

function Shown({ shown, onClose }) {
  if (!shown) return null;
  return html`<section data-new-key><h2>${shown.title}</h2><p>Copy it now: it is shown this once and never again.</p>
    <p class="secret" data-secret>${shown.key}</p><button onClick=${onClose}>Done</button></section>`;
}

const numberOrNull = (v) => (v === '' ? undefined : Number(v));
function keyFields(form) {
  const f = Object.fromEntries(new FormData(form));
  const out = {
    key_alias: f.key_alias || undefined, user_id: f.user_id || undefined, team_id: f.team_id || undefined,
    max_budget: numberOrNull(f.max_budget), budget_duration: f.budget_duration || undefined,
    rpm_limit: numberOrNull(f.rpm_limit), tpm_limit: numberOrNull(f.tpm_limit),
  };
  if (f.models) out.models = f.models.split(',').map((m) => m.trim()).filter(Boolean);
  return out;
}

function KeyForm({ onSubmit, submitLabel, initial = {} }) {
  // defaultValue, not value: a value prop is written back into the input on every render of the
  // page (a keystroke in the search box, a list reload), wiping what was typed and not sent yet.
  const field = (name, label, type = 'text') => html`<label>${label}<input name=${name} type=${type} step="any" defaultValue=${initial[name] ?? ''} /></label>`;
  return html`<form class="row" onSubmit=${(e) => { e.preventDefault(); onSubmit(keyFields(e.target), e.target); }}>
    ${field('key_alias', 'Alias')}${field('user_id', 'User')}${field('team_id', 'Team')}${field('models', 'Models (comma separated)')}
    ${field('max_budget', 'Budget USD', 'number')}${field('budget_duration', 'Budget period (30d)')}
    ${field('rpm_limit', 'Requests/min', 'number')}${field('tpm_limit', 'Tokens/min', 'number')}
    <button class="primary" type="submit">${submitLabel}</button></form>`;
}

function Keys() {
  const [search, setSearch] = useState('');
  const [page, setPage] = useState(1);
  const [shown, setShown] = useState(null);
  const [editing, setEditing] = useState(null);
  const [failure, setFailure] = useState(null);
  const [data, error, reload] = useLoad(() => api('/key/list', { query: { return_full_object: 'true', size: 25, page, search } }), [search, page]);
  const act = async (route, body, after) => {
    try { const r = await api(route, { body }); setFailure(null); after?.(r); reload(); } catch (err) { setFailure(err); }
  };
  return html`<h1>Keys</h1><${Shown} shown=${shown} onClose=${() => setShown(null)} />
    <section><h2>Create a key</h2><${KeyForm} submitLabel="Create key" onSubmit=${(fields, form) =>
      act('/key/generate', fields, (r) => { form.reset(); setShown({ title: `New key ${r.key_alias ?? ''}`, key: r.key }); })} /></section>
    <${Err} error=${failure ?? error} />
    ${editing && html`<section><h2>Budget and limits of ${editing.key_alias ?? short(editing.token)}</h2>
      <${KeyForm} key=${editing.token} initial=${{ ...editing, models: (editing.models ?? []).join(', ') }} submitLabel="Save"
        onSubmit=${(fields) => act('/key/update', { key: editing.token, ...fields }, () => setEditing(null))} /></section>`}
    <section><div class="row"><label>Search (alias, user or team starts with)
      <input name="search" value=${search} onInput=${(e) => { setSearch(e.target.value); setPage(1); }} /></label></div>
    <table><thead><tr><th>Alias</th><th>Key</th><th>User</th><th>Team</th><th class="num">Spend</th><th class="num">Budget</th>
      <th class="num">rpm / tpm</th><th>State</th><th></th></tr></thead>
    <tbody>${(data?.keys ?? []).map((k) => html`<tr data-key=${k.key_alias ?? k.token}>
      <td>${k.key_alias ?? '—'}</td><td title=${k.token}>${short(k.token)}</td><td>${k.user_id ?? ''}</td><td>${k.team_id ?? ''}</td>
      <td class="num">$${k.spend}</td><td class="num">${k.max_budget == null ? '—' : `$${k.max_budget}${k.budget_duration ? ` / ${k.budget_duration}` : ''}`}</td>
      <td class="num">${k.rpm_limit ?? '—'} / ${k.tpm_limit ?? '—'}</td>
      <td class=${k.blocked ? 'bad' : 'ok'} data-state>${k.blocked ? 'blocked' : 'active'}</td>
      <td><button onClick=${() => act(k.blocked ? '/key/unblock' : '/key/block', { key: k.token })}>${k.blocked ? 'Unblock' : 'Block'}</button>
        <button onClick=${() => setEditing(k)}>Edit</button>
        <button onClick=${() => confirm('Rotate this key? The old secret stops working now.') && act('/key/regenerate', { key: k.token }, (r) => setShown({ title: 'Rotated key', key: r.key }))}>Rotate</button>
        <button onClick=${() => confirm('Delete this key?') && act('/key/delete', { keys: [k.token] })}>Delete</button></td></tr>`)}</tbody></table>
    <${Pager} page=${page} pages=${data?.total_pages ?? 1} total=${data?.total_count} setPage=${setPage} /></section>`;
}

/** `atLeast`: the gateway counted only so far (a large ledger), so there are `total` or more. */
function Pager({ page, pages, total, atLeast, setPage }) {
  const more = atLeast ? '+' : '';
  return html`<p class="row muted" data-pager><button disabled=${page <= 1} onClick=${() => setPage(page - 1)}>Previous</button>
    <span>page ${page} of ${Math.max(1, pages).toLocaleString('en')}${more}${total != null ? ` (${total.toLocaleString('en')}${more} in all)` : ''}</span>
    <button disabled=${page >= pages} onClick=${() => setPage(page + 1)}>Next</button></p>`;
}

const FILTERS = [['api_key', 'Key (secret or hash)'], ['end_user', 'End user'], ['model', 'Model'], ['tag', 'Tag']];

function Logs() {
  const [filter, setFilter] = useState({});
  const [page, setPage] = useState(1);
  const [data, error] = useLoad(() => api('/spend/logs', { query: { ...filter, page, page_size: 50 } }), [filter, page]);
  const apply = (e) => {
    e.preventDefault();
    setFilter(Object.fromEntries([...new FormData(e.target)].filter(([, v]) => v !== '')));
    setPage(1);
  };
  return html`<h1>Requests</h1>
    <section><form class="row" onSubmit=${apply}>
      ${FILTERS.map(([name, label]) => html`<label>${label}<input name=${name} /></label>`)}
      <label>Status<select name="status"><option value="">any</option><option value="ok">succeeded</option><option value="error">failed</option></select></label>
      <label>From<input name="start_date" type="date" /></label><label>To<input name="end_date" type="date" /></label>
      <button class="primary" type="submit">Filter</button></form></section>
    <${Err} error=${error} />
    <section><table><thead><tr><th>Time</th><th>Key</th><th>Call</th><th>Model</th><th>End user</th><th>Tags</th>
      <th class="num">Status</th><th class="num">Tokens</th><th class="num">Spend</th></tr></thead>
    <tbody>${(data?.data ?? []).map((r) => html`<tr class="click" data-request=${r.request_id} onClick=${() => { location.hash = `#/logs/${encodeURIComponent(r.request_id)}`; }}>
      <td>${r.startTime.replace('T', ' ').slice(0, 19)}</td><td>${r.key_alias ?? short(r.api_key)}</td><td>${r.call_type}</td><td>${r.model}</td>
      <td>${r.end_user ?? ''}</td><td>${r.request_tags.join(', ')}</td>
      <td class=${`num ${r.status_code >= 400 ? 'bad' : ''}`}>${r.status_code}</td><td class="num">${r.total_tokens}</td>
      <td class="num">${r.unpriced ? 'unpriced' : usd(r.spend_exact)}</td></tr>`)}</tbody></table>
    <${Pager} page=${page} pages=${data?.total_pages ?? 1} total=${data?.total} atLeast=${data?.total_is_lower_bound} setPage=${setPage} /></section>`;
}

function LogDetail({ id }) {
  const [data, error] = useLoad(() => api('/spend/logs', { query: { request_id: id, page: 1, page_size: 1 } }), [id]);
  const row = data?.data?.[0];
  return html`<h1>Request ${id}</h1><p><a href="#/logs">← all requests</a></p><${Err} error=${error} />
    ${data && !row ? html`<p class="muted">No such request (yet: rows are written in batches).</p>` : null}
    ${row && html`<section><dl data-detail>${Object.entries(row).map(([k, v]) => html`<dt>${k}</dt><dd>${Array.isArray(v) ? v.join(', ') : String(v ?? '—')}</dd>`)}</dl></section>`}`;
}

function App() {
  const [session, setSession] = useState(undefined);
  const hash = useHash();
  useEffect(() => {
    call('/ui/session').then((s) => { csrf = s.csrf; setSession(s); }, () => setSession(null));
  }, []);
  if (session === undefined) return html`<p class="muted">Loading…</p>`;
  if (session === null) return html`<${SignIn} onSession=${(s) => { csrf = s.csrf; setSession(s); }} />`;
  const signOut = () => call('/ui/session/end', { body: {} }).finally(() => { csrf = null; setSession(null); });
  const tabs = [['#/overview', 'Overview'], ...(session.role === 'admin' ? [['#/keys', 'Keys']] : []), ['#/logs', 'Requests']];
  const page = hash.startsWith('#/logs/') ? html`<${LogDetail} id=${decodeURIComponent(hash.slice(7))} />`
    : hash === '#/keys' && session.role === 'admin' ? html`<${Keys} />`
    : hash === '#/logs' ? html`<${Logs} />` : html`<${Overview} session=${session} />`;
  return html`<header><strong>Tollgate</strong><nav>${tabs.map(([href, label]) => html`<a href=${href} class=${hash.startsWith(href) ? 'on' : ''}>${label}</a>`)}</nav>
    <span class="who">${session.role === 'admin' ? 'master key' : `key ${session.key_alias ?? ''}`}</span><button onClick=${signOut}>Sign out</button></header>
    <main>${page}</main>`;
}

document.body.textContent = '';
render(html`<${App} />`, document.body);
