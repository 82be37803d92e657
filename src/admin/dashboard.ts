// The dashboard: one self-contained page (no build step, nothing fetched from the internet). It
// follows /api/events for state and polls /api/stats for traffic: rates drawn as hand-made SVG
// sparklines, and over the last 10 s p50/p99 latency, answers by status class, and each server's
// failures before passive ejection takes it out. What an operator looks at first on HAProxy's
// stats page (server status, sessions, 5xx, errors, last check) and Traefik's dashboard
// (entrypoints, routers, services, their health at a glance), on one page.
export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lb dashboard</title>
<style>
  :root { --up: #1a7f37; --down: #cf222e; --ejected: #bc4c00; --draining: #0969da; --off: #8c959f; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; }
  * { box-sizing: border-box; }
  tr.shadowed td { color: var(--ejected); }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: #f6f8fa; }
  header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { margin: 0; font-size: 18px; }
  header .meta { color: var(--muted); }
  #live.off { color: var(--down); }
  main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  section h2 { margin: 0 0 8px; font-size: 15px; display: flex; justify-content: space-between; gap: 8px; }
  .badge { font-size: 11px; padding: 1px 6px; border-radius: 10px; background: #eaeef2; color: var(--muted); font-weight: normal; }
  .badge.panic { background: #ffebe9; color: var(--down); }
  ul { list-style: none; margin: 0; padding: 0; }
  li.server { display: flex; align-items: center; gap: 8px; padding: 3px 0; border-top: 1px solid #f0f2f4; }
  .dot { width: 10px; height: 10px; border-radius: 50%; flex: none; }
  .state-up .dot { background: var(--up); }
  .state-down .dot { background: var(--down); }
  .state-ejected .dot { background: var(--ejected); }
  .state-draining .dot { background: var(--draining); }
  .state-disabled .dot { background: var(--off); }
  .state-failing .dot { background: var(--ejected); box-shadow: 0 0 0 2px #ffd8b5; }
  .failing-note { color: var(--ejected); }
  .figures { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin: 0 0 6px; }
  .figures b { color: var(--fg); font-weight: 600; }
  .c5 b { color: var(--down); }
  .c4 b { color: var(--ejected); }
  .soon { color: var(--ejected); }
  .expired { color: var(--down); }
  .server .id { font-family: ui-monospace, monospace; }
  .server .info { margin-left: auto; color: var(--muted); font-size: 12px; }
  .charts { display: flex; gap: 12px; margin: 6px 0 8px; }
  .chart { flex: 1; }
  .chart .label { font-size: 11px; color: var(--muted); }
  svg { width: 100%; height: 36px; display: block; }
  .wide { grid-column: 1 / -1; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  td, th { text-align: left; padding: 3px 6px; border-top: 1px solid #f0f2f4; vertical-align: top; }
  th { color: var(--muted); font-weight: normal; }
  .empty { color: var(--muted); }
</style>
</head>
<body>
<header><h1>lb</h1><span class="meta" id="version"></span><span class="meta" id="live">connecting…</span></header>
<main>
  <section class="wide"><h2>Entrypoints</h2><table id="entrypoints"></table></section>
</main>
<main id="services"></main>
<main>
  <section class="wide" id="certificates-section"><h2>Certificates</h2><table id="certificates"></table></section>
  <section class="wide"><h2>Routers</h2><table id="routers"></table></section>
  <section class="wide" id="docker-section"><h2>Docker containers left out</h2><table id="docker"></table></section>
</main>
<script>
const token = new URLSearchParams(location.search).get('token');
const withToken = (path) => token ? path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : path;
// Samples of /api/stats, newest last: { t, stats }. Rates come from the last two; latency and
// status classes from the newest and the one about 10 s before it.
const samples = [];
const windowMs = 10000;
let lastState = null;

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

function sparkline(values, colour) {
  const points = values.length === 1 ? [values[0], values[0]] : values;
  const svgNS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', '0 0 100 36');
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...points);
  const path = points.map((v, i) => (i ? 'L' : 'M') + (points.length < 2 ? 0 : (i / (points.length - 1)) * 100).toFixed(1) + ' ' + (34 - (v / max) * 32).toFixed(1)).join(' ');
  const line = document.createElementNS(svgNS, 'path');
  line.setAttribute('d', path || 'M0 34 L100 34');
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', colour);
  line.setAttribute('stroke-width', '1.5');
  line.setAttribute('vector-effect', 'non-scaling-stroke');
  svg.append(line);
  return svg;
}

/** The counts of one service (or one server: pick) in each sample, oldest first. */
function seriesOf(pick) {
  return samples.map((sample) => ({ t: sample.t, counts: pick(sample.stats) }));
}

function rates(series) {
  const out = { requests: [], errors: [] };
  for (let i = 1; i < series.length; i++) {
    const a = series[i - 1].counts, b = series[i].counts;
    if (!a || !b) continue;
    const dt = (series[i].t - series[i - 1].t) / 1000 || 1;
    out.requests.push(Math.max(0, (b.requests - a.requests) / dt));
    out.errors.push(Math.max(0, (b.errors - a.errors) / dt));
  }
  return out;
}

/** What changed over the last window: requests, answers by class, and latency buckets. */
function windowOf(series) {
  const last = series[series.length - 1];
  if (!last || !last.counts) return null;
  let first = series[0];
  for (const entry of series) if (last.t - entry.t >= windowMs) first = entry;
  const a = first.counts || { requests: 0, responses: [0, 0, 0, 0, 0], latency: [] }, b = last.counts;
  const diff = (x, y) => y.map((n, i) => Math.max(0, n - (x[i] || 0)));
  return { seconds: Math.max(1, (last.t - first.t) / 1000), requests: Math.max(0, b.requests - a.requests), responses: diff(a.responses, b.responses), latency: diff(a.latency, b.latency) };
}

/** A quantile of bucket counts, interpolated within its bucket (bucket i ends at base × 2^i). */
function quantile(buckets, q) {
  const base = (samples[samples.length - 1] || {}).base || 0.00025;
  const total = buckets.reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= q * total) {
      if (i === buckets.length - 1) return Infinity;
      const low = i === 0 ? 0 : base * 2 ** (i - 1), high = base * 2 ** i;
      return low + (high - low) * ((q * total - seen) / buckets[i]);
    }
    seen += buckets[i];
  }
  return null;
}

function ms(seconds) {
  if (seconds === null) return '–';
  if (seconds === Infinity) return '> 8 s';
  return seconds < 0.01 ? (seconds * 1000).toFixed(2) + ' ms' : seconds < 1 ? (seconds * 1000).toFixed(0) + ' ms' : seconds.toFixed(2) + ' s';
}

/** p50, p99 and the status classes of a window, as figures. */
function figures(win) {
  if (!win) return [];
  const out = [el('span', { 'data-figure': 'p50' }, 'p50 ', el('b', {}, ms(quantile(win.latency, 0.5)))), el('span', { 'data-figure': 'p99' }, 'p99 ', el('b', {}, ms(quantile(win.latency, 0.99))))];
  ['2xx', '3xx', '4xx', '5xx'].forEach((name, i) => out.push(el('span', { class: 'c' + (i + 2), 'data-figure': name }, name + ' ', el('b', {}, String(win.responses[i + 1])))));
  return out;
}

function ago(at) {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 60 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
}

function expiry(iso) {
  const days = (Date.parse(iso) - Date.now()) / 86400000;
  const text = days < 0 ? 'expired' : days < 2 ? 'expires in ' + Math.round(days * 24) + ' h' : 'expires in ' + Math.round(days) + ' days';
  return el('span', { class: days < 0 ? 'expired' : days < 14 ? 'soon' : '' }, text + ' (' + iso.slice(0, 10) + ')');
}

function render() {
  const state = lastState;
  if (!state) return;
  document.getElementById('version').textContent = 'snapshot v' + state.version;
  const latest = (samples[samples.length - 1] || {}).stats;
  const entrypoints = document.getElementById('entrypoints');
  entrypoints.replaceChildren(el('tr', {}, el('th', {}, 'entrypoint'), el('th', {}, 'protocol'), el('th', {}, 'listening'), el('th', {}, 'open connections'), el('th', {}, '')));
  for (const ep of state.entrypoints) {
    const open = latest && latest.entrypoints ? latest.entrypoints[ep.name] : undefined;
    const note = ep.redirect ? 'redirects to ' + ep.redirect.to : ep.tls ? ep.tls.certificates.length + ' certificate(s)' : '';
    entrypoints.append(el('tr', { 'data-entrypoint': ep.name }, el('td', {}, ep.name), el('td', {}, ep.protocol), el('td', {}, ep.listening || ep.address), el('td', { 'data-open': String(open ?? '') }, open === undefined ? '–' : String(open)), el('td', {}, note)));
  }
  const services = document.getElementById('services');
  services.replaceChildren();
  for (const svc of state.services) {
    const series = seriesOf((stats) => stats.services[svc.name]);
    const r = rates(series);
    const now = (a) => (a.length ? a[a.length - 1] : 0).toFixed(1);
    const section = el('section', { 'data-service': svc.name },
      el('h2', {}, svc.name, el('span', {}, el('span', { class: 'badge' }, svc.protocol + ' · ' + svc.balancer), ' ', svc.panic ? el('span', { class: 'badge panic' }, 'panic') : '')),
      el('div', { class: 'charts' },
        el('div', { class: 'chart' }, el('div', { class: 'label', 'data-rate': 'requests' }, (svc.protocol === 'tcp' ? 'connections/s ' : 'requests/s ') + now(r.requests)), sparkline(r.requests, '#0969da')),
        el('div', { class: 'chart' }, el('div', { class: 'label', 'data-rate': 'errors' }, 'errors/s ' + now(r.errors)), sparkline(r.errors, '#cf222e'))),
      svc.protocol === 'tcp' ? '' : el('div', { class: 'figures', title: 'the last 10 s' }, ...figures(windowOf(series))));
    const list = el('ul');
    if (svc.weighted) list.append(el('li', { class: 'empty' }, 'weighted: ' + svc.weighted.services.map((c) => c.name + ' ' + c.weight).join(', ')));
    else if (svc.mirroring) list.append(el('li', { class: 'empty' }, 'mirroring: ' + svc.mirroring.service + ', copies to ' + svc.mirroring.mirrors.map((m) => m.name + ' ' + m.percent + '%').join(', ')));
    else if (!svc.servers.length) list.append(el('li', { class: 'empty' }, 'no servers'));
    for (const s of svc.servers) {
      const traffic = latest && latest.servers[svc.name] ? latest.servers[svc.name][s.backend] : undefined;
      // Passive failures show before they eject: an amber dot, the count, the last error.
      const failing = s.state === 'up' && traffic && traffic.consecutiveFailures > 0;
      const shown = svc.draining.includes(s.backend) ? 'draining' : failing ? 'failing' : s.state;
      const why = s.lastCheck && !s.lastCheck.ok ? ' · ' + s.lastCheck.detail : '';
      const lastFailure = traffic && traffic.lastFailure ? 'last failure ' + traffic.lastFailure.kind + ', ' + ago(traffic.lastFailure.at) : '';
      const win = windowOf(seriesOf((stats) => (stats.servers[svc.name] || {})[s.backend]));
      list.append(el('li', { class: 'server state-' + shown, 'data-server': s.backend, 'data-state': shown, 'data-failures': String(traffic ? traffic.failures : 0), title: shown + why + (lastFailure ? ' · ' + lastFailure : '') },
        el('span', { class: 'dot' }), el('span', { class: 'id' }, s.backend),
        el('span', { class: 'info' },
          shown + ' · weight ' + s.weight + ' · in flight ' + s.inFlight + why,
          failing ? el('span', { class: 'failing-note' }, ' · ' + traffic.consecutiveFailures + ' failure(s) in a row · ' + lastFailure) : '',
          win && win.requests ? ' · ' + (win.requests / win.seconds).toFixed(1) + (svc.protocol === 'tcp' ? ' conn/s' : ' req/s · p99 ' + ms(quantile(win.latency, 0.99))) + (win.responses[4] ? ' · 5xx ' + win.responses[4] : '') : '')));
    }
    for (const backend of svc.draining.filter((b) => !svc.servers.some((s) => s.backend === b))) {
      list.append(el('li', { class: 'server state-draining', 'data-server': backend, 'data-state': 'draining' }, el('span', { class: 'dot' }), el('span', { class: 'id' }, backend), el('span', { class: 'info' }, 'draining')));
    }
    section.append(list);
    services.append(section);
  }
  const routers = document.getElementById('routers');
  routers.replaceChildren(el('tr', {}, el('th', {}, 'router'), el('th', {}, 'entrypoint'), el('th', {}, 'match'), el('th', {}, 'service')));
  for (const r of state.routers) {
    const match = [r.match.sni ? 'sni ' + r.match.sni.join(', ') : '', r.match.host.join(', '), r.match.pathPrefix, Object.entries(r.match.headers).map(([k, v]) => k + '=' + v).join(', ')].filter(Boolean).join(' · ') || 'everything';
    const shadow = (state.conflicts || []).find((c) => c.router === r.name && c.entrypoint === r.entrypoint);
    routers.append(el('tr', shadow ? { class: 'shadowed', title: shadow.reason } : {}, el('td', {}, r.name, shadow ? ' (never wins: ' + shadow.by + ' first)' : ''), el('td', {}, r.entrypoint), el('td', {}, match), el('td', {}, r.service)));
  }
  const certificates = document.getElementById('certificates');
  const certRows = [];
  for (const ep of state.entrypoints) for (const c of (ep.tls ? ep.tls.certificates : [])) certRows.push(el('tr', { 'data-certificate': c.name }, el('td', {}, c.names.join(', ')), el('td', {}, ep.name), el('td', {}, c.source), el('td', {}, expiry(c.notAfter)), el('td', {}, '')));
  for (const h of (state.acme ? state.acme.hosts : [])) {
    certRows.push(el('tr', { 'data-acme-host': h.host }, el('td', {}, h.host), el('td', {}, ''), el('td', {}, 'ACME order (' + h.resolver + ')'), el('td', {}, h.notAfter ? expiry(h.notAfter) : 'none yet'), el('td', { class: h.lastError ? 'failing-note' : '' }, h.state + (h.lastError ? ': ' + h.lastError : '') + (h.nextAttempt ? ' · next try ' + h.nextAttempt.slice(11, 19) : ''))));
  }
  document.getElementById('certificates-section').hidden = certRows.length === 0;
  certificates.replaceChildren(el('tr', {}, el('th', {}, 'names'), el('th', {}, 'entrypoint'), el('th', {}, 'source'), el('th', {}, 'expiry'), el('th', {}, 'ACME')), ...certRows);
  const docker = state.providers && state.providers.docker;
  document.getElementById('docker-section').hidden = !docker;
  if (docker) {
    const table = document.getElementById('docker');
    const left = docker.containers.filter((c) => !c.inPool);
    table.replaceChildren(el('tr', {}, el('th', {}, 'container'), el('th', {}, 'why')));
    if (!left.length) table.append(el('tr', {}, el('td', { class: 'empty', colspan: '2' }, 'none')));
    for (const c of left) table.append(el('tr', { 'data-container': c.name }, el('td', {}, c.name), el('td', {}, c.reason || '')));
  }
}

async function pollStats() {
  try {
    const res = await fetch(withToken('/api/stats'));
    const stats = await res.json();
    samples.push({ t: stats.time, base: stats.latencyBaseSeconds, stats });
    if (samples.length > 61) samples.shift();
    render();
  } catch { /* the admin API may be restarting */ }
}

const events = new EventSource(withToken('/api/events'));
const live = document.getElementById('live');
events.addEventListener('state', (e) => { lastState = JSON.parse(e.data); live.textContent = 'live'; live.className = ''; render(); });
events.onerror = () => { live.textContent = 'disconnected, retrying…'; live.className = 'off'; };
pollStats();
setInterval(pollStats, 2000);
</script>
</body>
</html>
`;
