"""The dashboard's one page: HTML with its CSS and vanilla JavaScript inline.

No build step and no external URL: the page opens ``api/stream`` (an
``EventSource``, relative, so the page also works behind a path prefix)
and redraws its tables from each full snapshot. Every text from an object
is put in with ``textContent`` or ``setAttribute``, never parsed as HTML,
so a name cannot inject markup. :data:`SECURITY_HEADERS` add a Content
Security Policy that allows only this script and this style (by their
SHA-256) and connections to the same origin, and forbid framing.

The JSON the page reads is described in :mod:`reconciler.dashboard.view`.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["PAGE", "SECURITY_HEADERS"]

_STYLE = """
:root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec; --bg:#f6f7f9; --card:#fff;
  --ok:#1f8a4c; --warn:#b86e00; --bad:#c62f2f; --info:#2f6fc6; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--fg); background:var(--bg); }
header { display:flex; align-items:center; gap:16px; padding:12px 24px; background:#1d2330;
  color:#fff; }
header h1 { font-size:17px; margin:0; font-weight:600; }
header .spacer { flex:1; }
header span { font-size:13px; color:#c9cfdb; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
  font-weight:600; background:#e9ecf2; color:var(--fg); white-space:nowrap; }
.badge.ok { background:#dff3e6; color:var(--ok); }
.badge.warn { background:#fdf0d9; color:var(--warn); }
.badge.bad { background:#fbe1e1; color:var(--bad); }
.badge.info { background:#e1ecfb; color:var(--info); }
main { padding:16px 24px 32px; display:grid; gap:16px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:12px 16px; overflow-x:auto; }
section h2 { font-size:15px; margin:0 0 8px; display:flex; gap:8px; align-items:baseline; }
section h2 small { color:var(--muted); font-weight:normal; font-size:12px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(160px, 1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
  padding:10px 14px; }
.card b { display:block; font-size:22px; }
.card span { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 10px 5px 0; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase;
  letter-spacing:.03em; white-space:nowrap; }
td.num { font-variant-numeric:tabular-nums; white-space:nowrap; }
tr:last-child td { border-bottom:none; }
.bar { height:6px; background:#e9ecf2; border-radius:3px; margin-top:3px; width:120px; }
.bar div { height:6px; border-radius:3px; background:var(--ok); }
.bar div.warn { background:var(--warn); }
.bar div.bad { background:var(--bad); }
.why { color:var(--warn); font-size:12px; max-width:480px; }
.muted { color:var(--muted); }
label.toggle { margin-left:auto; font-size:12px; font-weight:normal; color:var(--muted); }
.empty { color:var(--muted); font-style:italic; }
td.msg { max-width:560px; }
"""

_SCRIPT = """
'use strict';
const $ = (id) => document.getElementById(id);
let state = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function num(v, digits) {
  if (v === null || v === undefined) return '\\u2014';
  const d = digits === undefined ? 2 : digits;
  return Number(v).toLocaleString('en-US', {maximumFractionDigits: d});
}
function mem(v) {
  if (v === null || v === undefined) return '\\u2014';
  return v >= 1024 ? num(v / 1024, 1) + ' GiB' : num(v, 0) + ' MiB';
}
function pair(used, total, fmt) {
  const f = fmt || num;
  return f(used) + ' / ' + f(total);
}
function bar(fraction, progress) {
  const outer = el('div', null, 'bar');
  const inner = el('div');
  const f = Math.max(0, Math.min(1, fraction || 0));
  inner.style.width = (f * 100).toFixed(1) + '%';
  if (!progress && f >= 0.9) inner.className = 'bad';
  else if (!progress && f >= 0.75) inner.className = 'warn';
  outer.appendChild(inner);
  return outer;
}
function condBadge(c, goodReasons) {
  if (!c) return el('span', '\\u2014', 'muted');
  let cls = 'warn';
  if (c.status === 'True' && (!goodReasons || goodReasons.includes(c.reason))) cls = 'ok';
  else if (c.status === 'True') cls = 'info';
  else if (c.status === 'False') cls = 'bad';
  const b = el('span', c.reason || c.status, 'badge ' + cls);
  if (c.message) b.setAttribute('title', c.message);
  return b;
}
function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return s + 's';
  if (s < 5400) return Math.round(s / 60) + 'm';
  if (s < 172800) return Math.round(s / 3600) + 'h';
  return Math.round(s / 86400) + 'd';
}
function cell(tr, col, content, cls) {
  const td = el('td', null, cls);
  td.dataset.col = col;
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content === null || content === undefined ? '\\u2014' : String(content);
  tr.appendChild(td);
  return td;
}
function fill(id, rows, width, draw) {
  const body = $(id).querySelector('tbody');
  const out = [];
  for (const row of rows) {
    const tr = el('tr');
    draw(tr, row);
    out.push(tr);
  }
  if (!out.length) {
    const tr = el('tr');
    const td = el('td', 'none', 'empty');
    td.colSpan = width;
    tr.appendChild(td);
    out.push(tr);
  }
  body.replaceChildren(...out);
  $(id + '-count').textContent = rows.length ? String(rows.length) : '';
}

function drawDomain(tr, d) {
  tr.dataset.key = d.name;
  cell(tr, 'name', el('b', d.name));
  cell(tr, 'hosts', num(d.hosts), 'num');
  cell(tr, 'instances', num(d.instances), 'num');
  const cpus = cell(tr, 'cpus', pair(d.usedCpus, d.capacityCpus), 'num');
  if (d.capacityCpus) cpus.appendChild(bar(d.usedCpus / d.capacityCpus));
  cell(tr, 'mem', pair(d.usedMem, d.capacityMem, mem), 'num');
  cell(tr, 'borrowed', num(d.borrowedCpus) + ' cpus, ' + mem(d.borrowedMem), 'num');
  const limit = d.borrow === 'Never' ? 'never'
    : (d.maxBorrowCpus === null && d.maxBorrowMem === null ? 'no limit'
      : [d.maxBorrowCpus === null ? null : num(d.maxBorrowCpus) + ' cpus',
         d.maxBorrowMem === null ? null : mem(d.maxBorrowMem)].filter(Boolean).join(', '));
  cell(tr, 'maxBorrow', limit, 'num');
  cell(tr, 'borrow', d.borrow);
  cell(tr, 'reserved', condBadge(d.reserved));
}
function drawHost(tr, h) {
  tr.dataset.key = h.name;
  cell(tr, 'name', el('b', h.name));
  cell(tr, 'address', h.address, 'num');
  cell(tr, 'domain', h.domain === null ? el('span', 'shared pool', 'muted') : h.domain);
  const lc = h.lifecycle === 'Active' ? 'ok' : (h.lifecycle === 'Draining' ? 'warn' : 'bad');
  cell(tr, 'lifecycle', el('span', h.lifecycle, 'badge ' + lc));
  const agent = el('span', h.agentId ? 'registered' : 'not registered',
    'badge ' + (h.agentId ? 'ok' : 'warn'));
  if (h.agentId) agent.setAttribute('title', h.agentId);
  cell(tr, 'mesos', agent);
  cell(tr, 'agents', h.agents === null ? null : h.agentsReady + ' / ' + h.agents + ' ready', 'num');
  cell(tr, 'instances', num(h.instances), 'num');
  const cpus = cell(tr, 'cpus', pair(h.usedCpus, h.cpus), 'num');
  if (h.cpus) cpus.appendChild(bar((h.usedCpus || 0) / h.cpus));
  cell(tr, 'mem', pair(h.usedMem, h.mem, mem), 'num');
}
function drawApp(tr, a) {
  tr.dataset.key = a.domain + '/' + a.name;
  const name = el('td');
  name.dataset.col = 'name';
  name.append(el('span', a.domain + '/', 'muted'), el('b', a.name));
  tr.appendChild(name);
  const counts = num(a.ready) + ' / ' + num(a.updated) + ' / ' + num(a.desired);
  const inst = cell(tr, 'instances', counts, 'num');
  if (a.desired) inst.appendChild(bar((a.ready || 0) / a.desired, true));
  cell(tr, 'rollout', condBadge(a.progressing, ['RolloutComplete']));
  cell(tr, 'available', condBadge(a.available));
  const failing = a.degraded && a.degraded.status === 'True' ? a.degraded.message : null;
  const why = a.placement || failing;
  cell(tr, 'placement', why ? el('div', why, 'why') : el('span', '', 'muted'));
}
function drawPool(tr, p) {
  tr.dataset.key = p.name;
  cell(tr, 'name', el('b', p.name));
  cell(tr, 'vlan', p.vlan, 'num');
  cell(tr, 'cidr', p.cidr, 'num');
  cell(tr, 'blocks', pair(p.blocks, p.totalBlocks), 'num');
  cell(tr, 'ips', pair(p.used, p.total), 'num');
  const pct = p.utilisation === null ? null : num(p.utilisation * 100, 1) + ' %';
  const u = cell(tr, 'utilisation', pct, 'num');
  if (p.utilisation !== null) u.appendChild(bar(p.utilisation));
}
function drawEvent(tr, e) {
  cell(tr, 'age', el('span', age(e.lastTimestamp)), 'num').firstChild.dataset.at = e.lastTimestamp;
  cell(tr, 'type', el('span', e.type, 'badge ' + (e.type === 'Warning' ? 'bad' : 'info')));
  cell(tr, 'reason', e.reason);
  cell(tr, 'object', e.object);
  cell(tr, 'source', e.source, 'muted');
  cell(tr, 'message', e.count > 1 ? e.message + ' (\\u00d7' + e.count + ')' : e.message, 'msg');
}

const SYSTEM = 'dcos-system';  // the per-host agents' Apps (AgentSets)

function render(s) {
  state = s;
  const c = s.controller;
  $('identity').textContent = c.identity;
  const role = $('role');
  role.textContent = (c.leader ? 'leader' : 'standby') + (c.synced ? '' : ', loading');
  role.className = 'badge ' + (c.synced ? (c.leader ? 'ok' : 'info') : 'warn');
  const ready = s.apps.filter((a) => a.desired === a.ready).length;
  $('sum-domains').textContent = String(s.domains.length);
  $('sum-hosts').textContent = String(s.hosts.filter((h) => h.lifecycle === 'Active').length)
    + ' / ' + s.hosts.length;
  $('sum-apps').textContent = ready + ' / ' + s.apps.length;
  const used = s.pools.reduce((n, p) => n + (p.used || 0), 0);
  const total = s.pools.reduce((n, p) => n + (p.total || 0), 0);
  $('sum-ips').textContent = used + ' / ' + total;
  fill('domains', s.domains, 9, drawDomain);
  fill('hosts', s.hosts, 9, drawHost);
  const all = $('show-system').checked;
  const apps = all ? s.apps : s.apps.filter((a) => a.domain !== SYSTEM);
  fill('apps', apps, 5, drawApp);
  const hidden = s.apps.length - apps.length;
  if (hidden) $('apps-count').textContent += ' (' + hidden + ' agent Apps hidden)';
  fill('pools', s.pools, 6, drawPool);
  fill('events', s.events, 6, drawEvent);
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString('en-GB');
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}
function live(ok) {
  const b = $('conn');
  b.textContent = ok ? 'live' : 'reconnecting';
  b.className = 'badge ' + (ok ? 'ok' : 'warn');
}

const source = new EventSource('api/stream');
source.addEventListener('snapshot', (msg) => { live(true); render(JSON.parse(msg.data)); });
source.addEventListener('open', () => live(true));
source.addEventListener('error', () => live(false));
$('show-system').addEventListener('change', () => { if (state) render(state); });
setInterval(() => {
  for (const span of document.querySelectorAll('[data-at]')) {
    span.textContent = age(span.dataset.at);
  }
}, 5000);
"""

_BODY = """
<header>
  <h1>simple-dcos</h1>
  <span>controller <b id="identity">&mdash;</b></span>
  <span id="role" class="badge">&mdash;</span>
  <div class="spacer"></div>
  <span id="updated"></span>
  <span id="conn" class="badge warn">connecting</span>
</header>
<main>
  <div class="cards">
    <div class="card"><b id="sum-domains">&mdash;</b><span>domains</span></div>
    <div class="card"><b id="sum-hosts">&mdash;</b><span>hosts active / all</span></div>
    <div class="card"><b id="sum-apps">&mdash;</b><span>apps fully ready / all</span></div>
    <div class="card"><b id="sum-ips">&mdash;</b><span>IPs used / usable</span></div>
  </div>
  <section>
    <h2>Domains <small id="domains-count"></small></h2>
    <table id="domains"><thead><tr>
      <th>Domain</th><th>Hosts</th><th>Instances</th><th>CPUs used / capacity</th>
      <th>Mem used / capacity</th><th>Borrowed</th><th>Max borrow</th><th>Borrow</th>
      <th>Reserved</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Hosts <small id="hosts-count"></small></h2>
    <table id="hosts"><thead><tr>
      <th>Host</th><th>Address</th><th>Domain</th><th>Lifecycle</th><th>Mesos agent</th>
      <th>Agents</th><th>Instances</th><th>CPUs used / capacity</th><th>Mem used / capacity</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Apps <small id="apps-count"></small>
      <label class="toggle"><input type="checkbox" id="show-system"> show the per-host agents
      (domain dcos-system)</label></h2>
    <table id="apps"><thead><tr>
      <th>App</th><th>Ready / updated / desired</th><th>Rollout</th><th>Available</th>
      <th>Waiting because</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>IP pools <small id="pools-count"></small></h2>
    <table id="pools"><thead><tr>
      <th>Pool</th><th>VLAN</th><th>CIDR</th><th>Blocks</th><th>IPs used / usable</th>
      <th>Utilisation</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Recent events <small id="events-count"></small></h2>
    <table id="events"><thead><tr>
      <th>Last seen</th><th>Type</th><th>Reason</th><th>Object</th><th>From</th><th>Message</th>
    </tr></thead><tbody></tbody></table>
  </section>
</main>
"""


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '<link rel="icon" href="data:,">\n<title>simple-dcos</title>\n'
    f"<style>{_STYLE}</style>\n</head><body>{_BODY}<script>{_SCRIPT}</script>\n</body></html>\n"
)
"""The whole page."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src '{_sha256(_SCRIPT)}'; style-src '{_sha256(_STYLE)}'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""Headers of every dashboard answer."""
