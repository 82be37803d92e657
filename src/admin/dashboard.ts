// The dashboard: one self-contained page (no build step, nothing fetched from the internet). It
// follows /api/events for state and polls /api/stats for rates, drawn as hand-made SVG sparklines.
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
<main id="services"></main>
<main>
  <section class="wide"><h2>Routers</h2><table id="routers"></table></section>
  <section class="wide" id="docker-section"><h2>Docker containers left out</h2><table id="docker"></table></section>
</main>
<script>
const token = new URLSearchParams(location.search).get('token');
const withToken = (path) => token ? path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : path;
const history = new Map(); // service -> [{t, requests, errors}]
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

function rates(name) {
  const h = history.get(name) || [];
  const out = { requests: [], errors: [] };
  for (let i = 1; i < h.length; i++) {
    const dt = (h[i].t - h[i - 1].t) / 1000 || 1;
    out.requests.push(Math.max(0, (h[i].requests - h[i - 1].requests) / dt));
    out.errors.push(Math.max(0, (h[i].errors - h[i - 1].errors) / dt));
  }
  return out;
}

function render() {
  const state = lastState;
  if (!state) return;
  document.getElementById('version').textContent = 'snapshot v' + state.version;
  const services = document.getElementById('services');
  services.replaceChildren();
  for (const svc of state.services) {
    const r = rates(svc.name);
    const now = (a) => (a.length ? a[a.length - 1] : 0).toFixed(1);
    const section = el('section', { 'data-service': svc.name },
      el('h2', {}, svc.name, el('span', {}, el('span', { class: 'badge' }, svc.protocol + ' · ' + svc.balancer), ' ', svc.panic ? el('span', { class: 'badge panic' }, 'panic') : '')),
      el('div', { class: 'charts' },
        el('div', { class: 'chart' }, el('div', { class: 'label' }, 'requests/s ' + now(r.requests)), sparkline(r.requests, '#0969da')),
        el('div', { class: 'chart' }, el('div', { class: 'label' }, 'errors/s ' + now(r.errors)), sparkline(r.errors, '#cf222e'))));
    const list = el('ul');
    if (!svc.servers.length) list.append(el('li', { class: 'empty' }, 'no servers'));
    for (const s of svc.servers) {
      const shown = svc.draining.includes(s.backend) ? 'draining' : s.state;
      const why = s.lastCheck && !s.lastCheck.ok ? ' · ' + s.lastCheck.detail : '';
      list.append(el('li', { class: 'server state-' + shown, 'data-server': s.backend, 'data-state': shown, title: shown + why },
        el('span', { class: 'dot' }), el('span', { class: 'id' }, s.backend),
        el('span', { class: 'info' }, shown + ' · weight ' + s.weight + ' · in flight ' + s.inFlight + why)));
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
    for (const [name, totals] of Object.entries(stats.services)) {
      const h = history.get(name) || [];
      h.push({ t: stats.time, requests: totals.requests, errors: totals.errors });
      if (h.length > 61) h.shift();
      history.set(name, h);
    }
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
