// HeliosProxy dashboard: vanilla JS, no build step, no external resources.
// It talks only to the REST API of the same origin, with relative URLs, so
// it works wherever the API serves it (at "/" or under a prefix).
//
// Data flow: GET circuit-breaker/status (and cluster/status, shown when
// the proxy is one of a cluster) every 2 s and whenever a server-sent
// event arrives on GET events; GET circuit-breaker/events once on load (and
// after the event stream reconnects) for the timeline's history and the
// chart's state-change marks; GET circuit-breaker/history once on load for
// the last 15 minutes the server sampled (every backend at a 10 s step for
// the small charts, the big chart's backend at full resolution), so that the
// charts show what happened before the page was opened, then go on live. Mutating
// actions send the admin token the operator typed as a Bearer header; the
// token lives in this tab's sessionStorage, never in a cookie.
//
// DOM work is keyed by backend name: each card is built once and then only
// the text that changed is written, so a status refresh is O(backends).
'use strict';

(() => {
  const POLL_MS = 2000;
  const HISTORY_MS = 15 * 60 * 1000; // latency samples kept per backend (the server's retention)
  const SPARK_STEP = '10s'; // step of the history loaded for the small charts
  const MIN_SAMPLE_GAP_MS = 900; // event-driven refetches add no denser samples
  const MAX_EVENTS = 200; // timeline entries kept
  const STREAM_RETRY_MS = 3000;
  const TOKEN_KEY = 'heliosproxy.admin_token';
  const AUTHOR_KEY = 'heliosproxy.author';
  const EVENT_TYPES = ['CircuitOpened', 'CircuitHalfOpened', 'CircuitClosed', 'RecoveryFailed',
    'CascadeDetected', 'OverrideSet', 'OverrideCleared', 'ConfigReloaded',
    'BackendTrustsProxy', 'BackendTrustCleared',
    'QueryBreakerOpened', 'QueryBreakerHalfOpened', 'QueryBreakerClosed'];

  const api = {
    status: 'circuit-breaker/status',
    history: 'circuit-breaker/events?limit=1000',
    series: (q) => 'circuit-breaker/history' + (q ? '?' + new URLSearchParams(q) : ''),
    stream: 'events',
    patterns: 'circuit-breaker/query-breakers',
    override: (name) => 'circuit-breaker/backends/' + encodeURIComponent(name) + '/override',
    reload: 'config/reload',
    cluster: 'cluster/status',
    users: 'users',
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    summary: $('summary'), live: $('live'), updated: $('updated'), token: $('token'), author: $('author'),
    reload: $('reload-config'), error: $('error'), errorTitle: $('error-title'),
    errorDetails: $('error-details'), errorClose: $('error-close'), notice: $('notice'),
    chart: $('chart'), chartBackend: $('chart-backend'), events: $('events'),
    eventsCount: $('events-count'), filter: $('filter'), stateFilter: $('state-filter'),
    shown: $('shown'), sort: $('sort'), grid: $('backends'), dialog: $('action-dialog'), form: $('action-form'),
    actionTitle: $('action-title'), actionHelp: $('action-help'), actionFields: $('action-fields'),
    reason: $('action-reason'), ttl: $('action-ttl'), actionError: $('action-error'),
    cancel: $('action-cancel'), confirm: $('action-confirm'),
    tokenRow: $('action-token-row'), actionToken: $('action-token'),
    patternsPanel: $('patterns-panel'), patterns: $('patterns'),
    rolesPanel: $('roles-panel'), roles: $('roles'),
  };

  // cards maps backend name to {name, data, root, refs, samples, visible}.
  const cards = new Map();
  let order = []; // backend names in the API's order
  let clockOffset = 0; // server time minus browser time, from status.timestamp
  let loaded = false;
  let lastStatusAt = 0;
  const seenEvents = new Set(); // keys of the events in the timeline

  // ---- formatting ------------------------------------------------------

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  function ms(v) {
    v = num(v);
    if (v === null) return '–';
    if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
    if (v >= 10) return Math.round(v) + ' ms';
    if (v === 0) return '0 ms';
    if (Number.isInteger(v)) return v + ' ms';
    return (v >= 1 ? v.toFixed(1) : v.toFixed(2)) + ' ms';
  }
  function pct(v) {
    v = num(v);
    if (v === null) return '–';
    const p = v * 100;
    return (p > 0 && p < 0.1 ? '<0.1' : p.toFixed(p >= 99.95 || p === 0 ? 0 : 1)) + '%';
  }
  function dur(msec) {
    if (!Number.isFinite(msec)) return '–';
    let s = Math.max(0, Math.floor(msec / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + s + 's';
    return s + 's';
  }
  const parseTime = (v) => {
    if (!v) return NaN;
    const t = Date.parse(v);
    return Number.isFinite(t) && t > 0 ? t : NaN;
  };
  const pad = (n) => String(n).padStart(2, '0');
  const clock = (t) => {
    const d = new Date(t);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  };
  const serverNow = () => Date.now() + clockOffset;
  const stateWord = (s) => (s === 'HALF_OPEN' ? 'HALF-OPEN' : s || '?');

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }
  function setHidden(node, hidden) {
    if (node.hidden !== hidden) node.hidden = hidden;
  }
  function make(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // ---- API access ------------------------------------------------------

  class APIError extends Error {
    constructor(status, message, details) {
      super(message);
      this.status = status;
      this.details = details || [];
    }
  }

  function detailText(d) {
    if (d === null || d === undefined) return '';
    if (typeof d !== 'object') return String(d);
    const field = d.field || d.key || d.name || d.path;
    const msg = d.message || d.error || d.reason || d.detail;
    if (field && msg) return field + ': ' + msg;
    if (msg) return String(msg);
    return JSON.stringify(d);
  }

  async function request(method, path, body, auth) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth) {
      headers.Authorization = 'Bearer ' + auth;
      const who = el.author.value.trim();
      if (who) headers['X-Helios-Author'] = who;
    }
    let res;
    try {
      res = await fetch(path, {
        method, headers, cache: 'no-store', credentials: 'omit',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new APIError(0, 'cannot reach the API (' + method + ' ' + path + '): ' + e.message);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      let msg = data && typeof data.error === 'string' ? data.error : text.trim().slice(0, 300);
      if (!msg) msg = res.statusText || 'request failed';
      const details = data && Array.isArray(data.details) ? data.details.map(detailText) : [];
      throw new APIError(res.status, msg, details);
    }
    return data;
  }

  // ---- errors and notices ---------------------------------------------

  let errorSource = '';
  function showError(source, title, err) {
    errorSource = source;
    let text = title;
    if (err) text += ': ' + (err.status ? 'HTTP ' + err.status + ' ' : '') + err.message;
    setText(el.errorTitle, text);
    el.errorDetails.replaceChildren(...((err && err.details) || []).map((d) => make('li', '', d)));
    el.error.hidden = false;
  }
  function clearError(source) {
    if (!source || errorSource === source) el.error.hidden = true;
  }
  let noticeTimer = 0;
  function notify(text) {
    el.notice.textContent = text;
    el.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { el.notice.hidden = true; }, 6000);
  }
  el.errorClose.addEventListener('click', () => clearError());

  // ---- backend cards ---------------------------------------------------

  const METRICS = [
    ['p50', 'p50'], ['p95', 'p95'], ['p99', 'p99'], ['err', 'errors'],
    ['sat', 'saturation'], ['share', 'traffic'], ['conns', 'conns'], ['queue', 'queue'],
  ];

  function buildCard(name) {
    const root = make('article', 'card');
    root.dataset.backend = name;
    const refs = {};
    const head = make('div', 'card-head');
    refs.name = make('h3', 'name', name);
    refs.name.title = name;
    refs.state = make('span', 'state');
    refs.override = make('span', 'override-badge');
    refs.override.hidden = true;
    head.append(refs.name, refs.override, refs.state);

    const sub = make('div', 'sub');
    refs.since = make('span', 'since');
    refs.addr = make('span', 'addr');
    sub.append(refs.since, ' · ', refs.addr);

    const dl = make('dl', 'metrics');
    for (const [key, label] of METRICS) {
      const d = make('div');
      refs[key] = make('dd', 'm-' + key);
      d.append(make('dt', '', label), refs[key]);
      dl.append(d);
    }
    refs.reason = make('p', 'reason');
    refs.reason.hidden = true;
    refs.overrideInfo = make('p', 'override-info');
    refs.overrideInfo.hidden = true;
    refs.spark = make('canvas', 'spark');
    refs.spark.title = 'p50 / p95 / p99, last 15 minutes (click to enlarge)';

    const actions = make('div', 'actions');
    const idName = name.replace(/[^A-Za-z0-9_-]/g, '_');
    for (const [action, label] of [['force-open', 'Force open'], ['force-closed', 'Force closed'],
      ['clear-override', 'Clear override']]) {
      const b = make('button', '', label);
      b.type = 'button';
      b.dataset.action = action;
      b.id = action + '-' + idName;
      b.setAttribute('aria-label', label + ' ' + name);
      refs[action] = b;
      actions.append(b);
    }
    root.append(head, sub, dl, refs.reason, refs.overrideInfo, refs.spark, actions);
    return { name, data: null, root, refs, samples: [], visible: true };
  }

  function updateCard(c, b) {
    const r = c.refs;
    const st = String(b.circuit_state || 'UNKNOWN');
    if (c.root.dataset.state !== st) c.root.dataset.state = st;
    setText(r.state, stateWord(st));
    const ov = b.override || '';
    if (ov) {
      if (c.root.dataset.override !== ov) c.root.dataset.override = ov;
      r.override.dataset.override = ov;
      setText(r.override, 'forced ' + stateWord(ov));
      let info = 'forced ' + stateWord(ov);
      if (b.override_author) info += ' by ' + b.override_author;
      if (b.override_reason) info += ': ' + b.override_reason;
      r.overrideBase = info;
    } else if (c.root.dataset.override !== undefined) {
      delete c.root.dataset.override;
      delete r.override.dataset.override;
    }
    setHidden(r.override, !ov);
    setHidden(r.overrideInfo, !ov);
    setHidden(r['clear-override'], !ov);

    let addr = (b.host || '?') + ':' + (b.port ?? '?');
    if (b.role && b.role !== 'unknown') addr += ' · ' + b.role + (num(b.timeline) ? ' (timeline ' + b.timeline + ')' : '');
    if (b.routing && b.routing !== 'read-write' && b.routing !== 'read-only') addr += ' · ' + b.routing.toUpperCase();
    if (b.fenced_reason) addr += ': ' + b.fenced_reason;
    addr += b.read_only ? ' · read-only' : '';
    if (num(b.priority) !== null) addr += ' · prio ' + b.priority;
    if (num(b.weight) !== null) addr += ' · w ' + b.weight;
    if (num(b.ramp_factor) !== null && b.ramp_factor < 1 && st === 'CLOSED') addr += ' · ramp ' + pct(b.ramp_factor);
    if (num(b.replication_lag_ms) !== null && b.replication_lag_ms > 0) addr += ' · lag ' + ms(b.replication_lag_ms);
    if (num(b.replication_lag_bytes) !== null && b.replication_lag_bytes > 0) addr += ' (' + b.replication_lag_bytes + ' B)';
    setText(r.addr, addr);

    setText(r.p50, ms(b.latency_p50_ms));
    setText(r.p95, ms(b.latency_p95_ms));
    setText(r.p99, ms(b.latency_p99_ms));
    setText(r.err, pct(b.error_rate));
    r.err.classList.toggle('bad', num(b.error_rate) !== null && b.error_rate >= 0.05);
    setText(r.sat, pct(b.connection_saturation));
    r.sat.classList.toggle('bad', num(b.connection_saturation) !== null && b.connection_saturation >= 0.95);
    setText(r.share, pct(b.traffic_share));
    setText(r.conns, (b.active_connections ?? '–') + (num(b.max_connections) ? '/' + b.max_connections : ''));
    setText(r.queue, String(b.queue_depth ?? '–'));

    let reason = '';
    if (st !== 'CLOSED' && b.open_reason) reason = 'reason: ' + b.open_reason;
    const lf = parseTime(b.last_failure_time);
    if (reason && Number.isFinite(lf)) reason += ' · last failure ' + clock(lf);
    if (b.trusts_proxy) {
      const roles = Array.isArray(b.trusted_roles) ? b.trusted_roles.join(', ') : '';
      reason += (reason ? ' · ' : '') + '⚠ trusts the proxy without a password (pg_hba.conf)' + (roles ? ': ' + roles : '');
    }
    setText(r.reason, reason);
    setHidden(r.reason, !reason);

    c.since = parseTime(b.state_since);
    c.expires = ov ? parseTime(b.override_expires) : NaN;
    c.data = b;
    c.search = (c.name + ' ' + (b.host || '') + ':' + (b.port ?? '') + ' ' + st + ' ' + stateWord(st) +
      (ov ? ' override forced ' + ov : '')).toLowerCase();
    tickCard(c, serverNow());
  }

  // tickCard refreshes the parts of a card that change with the clock.
  function tickCard(c, now) {
    if (!c.data) return;
    const st = c.data.circuit_state;
    setText(c.refs.since, stateWord(st) + ' for ' + (Number.isFinite(c.since) ? dur(now - c.since) : '–'));
    if (c.data.override) {
      let info = c.refs.overrideBase || '';
      if (Number.isFinite(c.expires)) info += ' · expires in ' + dur(c.expires - now);
      setText(c.refs.overrideInfo, info);
    }
  }

  const liveSample = (b, t) => ({ t, p50: num(b.latency_p50_ms), p95: num(b.latency_p95_ms), p99: num(b.latency_p99_ms),
    err: num(b.error_rate), share: num(b.traffic_share), st: b.circuit_state, live: true });

  function addSample(c, b, t) {
    const s = c.samples;
    if (s.length && s[s.length - 1].live && t - s[s.length - 1].t < MIN_SAMPLE_GAP_MS) {
      s[s.length - 1] = liveSample(b, s[s.length - 1].t);
    } else {
      s.push(liveSample(b, t));
    }
    let drop = 0;
    while (drop < s.length && s[drop].t < t - HISTORY_MS) drop++;
    if (drop) s.splice(0, drop);
  }

  // ---- filtering -------------------------------------------------------

  function matches(c) {
    const q = el.filter.value.trim().toLowerCase();
    const sf = el.stateFilter.value;
    const st = c.data ? c.data.circuit_state : '';
    if (sf === 'problem' && st === 'CLOSED') return false;
    if (sf === 'override' && !(c.data && c.data.override)) return false;
    if (sf && sf !== 'problem' && sf !== 'override' && st !== sf) return false;
    if (!q) return true;
    return q.split(/\s+/).every((w) => c.search.includes(w));
  }

  function applyFilter() {
    let shown = 0;
    for (const c of cards.values()) {
      const v = matches(c);
      c.visible = v;
      setHidden(c.root, !v);
      if (v) shown++;
    }
    setText(el.shown, shown === cards.size ? '' : 'showing ' + shown + ' of ' + cards.size);
  }
  // ---- sorting ---------------------------------------------------------

  // STATE_RANK puts the circuits that need attention first.
  const STATE_RANK = { OPEN: 0, HALF_OPEN: 1, CLOSED: 2 };
  const SORTS = {
    state: (a, b) => (STATE_RANK[a.data.circuit_state] ?? 3) - (STATE_RANK[b.data.circuit_state] ?? 3),
    name: (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    p95: (a, b) => (num(b.data.latency_p95_ms) ?? -1) - (num(a.data.latency_p95_ms) ?? -1),
    errors: (a, b) => (num(b.data.error_rate) ?? -1) - (num(a.data.error_rate) ?? -1),
  };
  let arranged = []; // backend names in the grid's order

  // arrange orders the cards by the chosen sort (configuration order
  // breaking ties); the DOM is touched only when the order changed.
  function arrange(force) {
    const by = SORTS[el.sort.value];
    let names = order;
    if (by) {
      const pos = new Map(order.map((n, i) => [n, i]));
      names = [...order].sort((a, b) => by(cards.get(a), cards.get(b)) || pos.get(a) - pos.get(b));
    }
    if (!force && names.length === arranged.length && names.every((n, i) => n === arranged[i])) return;
    const frag = document.createDocumentFragment();
    for (const name of names) frag.append(cards.get(name).root);
    el.grid.replaceChildren(frag);
    if (!names.length) el.grid.append(make('p', 'empty', 'No backends configured.'));
    arranged = names;
  }
  el.sort.addEventListener('change', () => { arrange(false); drawSparks(); });

  el.filter.addEventListener('input', () => { applyFilter(); drawSparks(); });
  el.stateFilter.addEventListener('change', () => { applyFilter(); drawSparks(); });

  // ---- rendering a status snapshot ------------------------------------

  let renders = 0, lastRenderMs = 0;
  function render(snap) {
    const started = performance.now();
    const list = snap && Array.isArray(snap.backends) ? snap.backends : [];
    const ts = parseTime(snap && snap.timestamp);
    if (Number.isFinite(ts)) clockOffset = ts - Date.now();
    const now = serverNow();
    const names = [];
    const seen = new Set();
    let reorder = list.length !== order.length;
    for (let i = 0; i < list.length; i++) {
      const b = list[i];
      const name = String(b.backend_name ?? '');
      if (seen.has(name)) continue;
      seen.add(name);
      names.push(name);
      let c = cards.get(name);
      if (!c) {
        c = buildCard(name);
        cards.set(name, c);
        reorder = true;
      } else if (order[names.length - 1] !== name) {
        reorder = true;
      }
      updateCard(c, b);
      addSample(c, b, now);
    }
    for (const [name, c] of cards) {
      if (!seen.has(name)) {
        c.root.remove();
        cards.delete(name);
        reorder = true;
      }
    }
    if (reorder) {
      order = names;
      syncChartSelect();
    }
    arrange(reorder);
    applyFilter();
    renderSummary();
    setText(el.updated, 'updated ' + clock(Date.now()));
    drawSparks();
    drawChart();
    if (!loaded) {
      loaded = true;
      document.body.dataset.loaded = '1';
      loadMetricHistory(); // now that the cards exist
    }
    renders++;
    lastRenderMs = performance.now() - started;
  }

  function renderSummary() {
    const count = { CLOSED: 0, HALF_OPEN: 0, OPEN: 0 };
    let overrides = 0;
    for (const c of cards.values()) {
      const st = c.data.circuit_state;
      count[st] = (count[st] || 0) + 1;
      if (c.data.override) overrides++;
    }
    const pills = [make('span', 'pill', cards.size + (cards.size === 1 ? ' backend' : ' backends'))];
    for (const st of ['CLOSED', 'HALF_OPEN', 'OPEN']) {
      const p = make('span', 'pill s-' + st, count[st] + ' ' + stateWord(st).toLowerCase());
      p.dataset.count = st;
      pills.push(p);
    }
    if (overrides) pills.push(make('span', 'pill override', overrides + ' overridden'));
    const key = pills.map((p) => p.textContent).join('|');
    if (el.summary.dataset.key !== key) {
      el.summary.dataset.key = key;
      el.summary.replaceChildren(...pills);
    }
    document.title = (count.OPEN ? count.OPEN + ' open · ' : '') + 'HeliosProxy circuits';
  }

  // renderPatterns shows the query patterns with breakers of their own;
  // the panel is hidden while there are none.
  function renderPatterns(doc) {
    const rows = Array.isArray(doc.patterns) ? doc.patterns : [];
    setHidden(el.patternsPanel, rows.length === 0);
    const body = document.createDocumentFragment();
    for (const p of rows) {
      const tr = make('tr');
      tr.dataset.state = p.circuit_state;
      tr.append(
        make('td', 'state', stateWord(p.circuit_state)),
        make('td', 'query', p.query || '(pattern ' + p.pattern + ')'),
        make('td', '', p.open_reason ? p.open_reason + ': ' + (p.open_detail || '') : '–'),
        make('td', '', p.retry_at ? clock(Date.parse(p.retry_at)) : '–'),
        make('td', 'num', String(p.executions)),
        make('td', 'num', Number(p.latency_p95_ms || 0).toFixed(1)),
        make('td', 'num', String(p.slow_total)),
        make('td', 'num', String(p.failures_total)),
        make('td', 'num', String(p.rejected_total)),
      );
      tr.title = 'pattern ' + p.pattern + (p.fingerprint ? ', fingerprint ' + p.fingerprint : '');
      body.append(tr);
    }
    el.patterns.replaceChildren(body);
  }

  async function refreshPatterns() {
    try {
      renderPatterns(await request('GET', api.patterns));
      clearError('patterns');
    } catch (e) {
      showError('patterns', 'Query patterns unavailable', e);
    }
  }

  // renderRoles shows the roles with user-level limits and breakers
  // (GET /users); the panel is hidden while there are none, or when
  // user_level_breakers_enabled is off (the API answers 501).
  function renderRoles(doc) {
    const rows = doc && Array.isArray(doc.users) ? doc.users : [];
    setHidden(el.rolesPanel, rows.length === 0);
    const body = document.createDocumentFragment();
    for (const u of rows) {
      const tr = make('tr');
      tr.dataset.state = u.state;
      tr.append(
        make('td', 'state', stateWord(u.state)),
        make('td', 'query', u.role),
        make('td', '', u.database),
        make('td', 'num', Number(u.rate || 0).toFixed(1)),
        make('td', 'num', u.exempt ? 'exempt' : u.rate_limit ? String(u.rate_limit) : '–'),
        make('td', 'num', String(u.throttled_total)),
        make('td', 'num', String(u.isolated_total)),
        make('td', 'num', String(u.failures_total)),
        make('td', 'num', (100 * Number(u.error_rate || 0)).toFixed(1) + '%'),
        make('td', '', u.open_reason ? u.open_reason + (u.open_detail ? ': ' + u.open_detail : '') : '–'),
      );
      body.append(tr);
    }
    el.roles.replaceChildren(body);
  }

  let refreshing = null;
  let refreshAgain = false;
  // refresh fetches the status now; calls while a fetch is in flight are
  // folded into one more fetch after it.
  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        const [snap, cluster] = await Promise.all([request('GET', api.status), request('GET', api.cluster).catch(() => null)]);
        lastStatusAt = Date.now();
        clearError('status');
        render(snap);
        await refreshPatterns();
        renderRoles(await request('GET', api.users).catch(() => null));
        renderCluster(cluster);
      } catch (e) {
        showError('status', 'Status unavailable', e);
        setText(el.updated, lastStatusAt ? 'stale since ' + clock(lastStatusAt) : 'no data');
      } finally {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          refresh();
        }
      }
    })();
    return refreshing;
  }

  // ---- metric history kept by the server --------------------------------

  // seriesSamples turns one backend of GET circuit-breaker/history into
  // samples; points before the backend appeared (null state) are skipped.
  function seriesSamples(ts, b) {
    const out = [];
    const col = (k, i) => (Array.isArray(b[k]) ? num(b[k][i]) : null);
    const states = Array.isArray(b.circuit_state) ? b.circuit_state : [];
    for (let i = 0; i < ts.length; i++) {
      if (!states[i] || !Number.isFinite(ts[i])) continue;
      out.push({ t: ts[i], p50: col('latency_p50_ms', i), p95: col('latency_p95_ms', i), p99: col('latency_p99_ms', i),
        err: col('error_rate', i), share: col('traffic_share', i), st: states[i] });
    }
    return out;
  }

  // mergeHistory replaces a card's earlier history with hist and keeps
  // the samples this page took itself after it.
  function mergeHistory(c, hist) {
    const live = c.samples.filter((s) => s.live);
    const cut = live.length ? live[0].t - MIN_SAMPLE_GAP_MS / 2 : Infinity;
    const from = serverNow() - HISTORY_MS;
    c.samples = hist.filter((s) => s.t < cut && s.t >= from).concat(live);
  }

  async function loadSeries(q, fine) {
    const data = await request('GET', api.series(q));
    const ts = data && Array.isArray(data.timestamps) ? data.timestamps : [];
    for (const b of data && Array.isArray(data.backends) ? data.backends : []) {
      const c = cards.get(String(b.backend_name));
      if (!c) continue;
      mergeHistory(c, seriesSamples(ts, b));
      if (fine) c.fine = true;
    }
  }

  // loadMetricHistory fills every card's chart from the server's history
  // (a 10 s step) and the big chart's backend at full resolution.
  async function loadMetricHistory() {
    try {
      await loadSeries({ step: SPARK_STEP }, false);
      if (chartName) await loadSeries({ backend: chartName }, true);
      clearError('series');
    } catch (e) {
      // 501: this server keeps no history; the charts start empty.
      if (e.status !== 501) showError('series', 'Metric history unavailable', e);
    }
    document.body.dataset.history = '1';
    drawSparks();
    drawChart();
  }

  // marks are the circuit transitions of the event history, drawn on the
  // big chart: {t, backend, to, type}, oldest first.
  let marks = [];
  let markKeys = new Set(); // eventKey of each mark: a reconnect reloads the history
  const MAX_MARKS = 5000;
  function addMarks(list) {
    let added = false;
    for (const ev of list) {
      if (!ev || typeof ev !== 'object' || markKeys.has(eventKey(ev))) continue;
      const backend = field(ev, 'backend_name', 'backend');
      const to = field(ev, 'to_state', 'to');
      const t = eventTime(ev);
      if (!backend || !to || !t) continue;
      marks.push({ t, backend: String(backend), to: String(to), type: String(field(ev, 'event_type', 'type') || ''), key: eventKey(ev) });
      markKeys.add(eventKey(ev));
      added = true;
    }
    if (!added) return;
    marks.sort((a, b) => a.t - b.t);
    const from = serverNow() - HISTORY_MS;
    marks = marks.filter((m) => m.t >= from).slice(-MAX_MARKS);
    markKeys = new Set(marks.map((m) => m.key));
  }

  // ---- charts ----------------------------------------------------------

  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  let palette = null;
  function colors() {
    if (!palette) {
      palette = {
        p50: cssVar('--p50'), p95: cssVar('--p95'), p99: cssVar('--p99'), line: cssVar('--line'),
        muted: cssVar('--muted'), open: cssVar('--open-bg'), half: cssVar('--half-bg'),
        OPEN: cssVar('--open'), HALF_OPEN: cssVar('--half-line'), CLOSED: cssVar('--closed'),
      };
    }
    return palette;
  }
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { palette = null; drawSparks(); drawChart(); });

  // fitCanvas sizes a canvas's backing store to its CSS box; it returns the
  // context with one unit per CSS pixel, or null when it is not displayed.
  function fitCanvas(cv, w, h) {
    if (!w || !h) return null;
    const dpr = window.devicePixelRatio || 1;
    const bw = Math.round(w * dpr), bh = Math.round(h * dpr);
    if (cv.width !== bw) cv.width = bw;
    if (cv.height !== bh) cv.height = bh;
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return ctx;
  }

  // span is the time a chart shows: the samples kept, at least 30 s,
  // so that a fresh page does not draw a sliver at the right edge.
  function span(samples, now) {
    const oldest = samples.length ? samples[0].t : now;
    return Math.min(HISTORY_MS, Math.max(30000, now - oldest));
  }

  function maxOf(samples) {
    let m = 0;
    for (const s of samples) {
      for (const v of [s.p50, s.p95, s.p99]) if (v !== null && v > m) m = v;
    }
    return m;
  }

  // niceMax rounds up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function plot(ctx, samples, key, x, y, color, width) {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    let pen = false;
    for (const s of samples) {
      const v = s[key];
      if (v === null) { pen = false; continue; }
      if (pen) ctx.lineTo(x(s.t), y(v)); else ctx.moveTo(x(s.t), y(v));
      pen = true;
    }
    ctx.stroke();
  }

  // shadeStates tints the time ranges in which the circuit was not CLOSED.
  function shadeStates(ctx, samples, x, top, h, pal) {
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      if (s.st === 'CLOSED') continue;
      const x0 = x(s.t), x1 = i + 1 < samples.length ? x(samples[i + 1].t) : x(s.t) + 2;
      ctx.fillStyle = s.st === 'OPEN' ? pal.open : pal.half;
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
    }
  }

  function drawSparks() {
    // Read every size first and draw afterwards, so that layout runs once.
    const todo = [];
    for (const c of cards.values()) {
      if (c.visible) todo.push([c, c.refs.spark.clientWidth, c.refs.spark.clientHeight]);
    }
    const pal = colors();
    const now = serverNow();
    for (const [c, w, h] of todo) {
      const ctx = fitCanvas(c.refs.spark, w, h);
      if (!ctx) continue;
      const top = niceMax(maxOf(c.samples));
      const sp = span(c.samples, now);
      const x = (t) => w - ((now - t) / sp) * w;
      const y = (v) => h - 1 - (v / top) * (h - 10);
      shadeStates(ctx, c.samples, x, 0, h, pal);
      plot(ctx, c.samples, 'p99', x, y, pal.p99, 1);
      plot(ctx, c.samples, 'p95', x, y, pal.p95, 1.5);
      plot(ctx, c.samples, 'p50', x, y, pal.p50, 1);
      ctx.fillStyle = pal.muted;
      ctx.font = '10px system-ui, sans-serif';
      ctx.textBaseline = 'top';
      ctx.fillText(ms(top), 2, 0);
    }
  }

  let chartName = '';
  function syncChartSelect() {
    const opts = order.map((n) => {
      const o = make('option', '', n);
      o.value = n;
      return o;
    });
    el.chartBackend.replaceChildren(...opts);
    if (!cards.has(chartName)) chartName = order[0] || '';
    el.chartBackend.value = chartName;
  }
  el.chartBackend.addEventListener('change', () => selectChart(el.chartBackend.value));

  // selectChart shows a backend on the big chart, loading its history at
  // full resolution the first time.
  function selectChart(name) {
    chartName = name;
    el.chartBackend.value = name;
    drawChart();
    const c = cards.get(name);
    if (c && !c.fine) {
      c.fine = true;
      loadSeries({ backend: name }, true).then(drawChart, () => { c.fine = false; });
    }
  }

  // chartInfo describes what the big chart last drew, for tests and
  // debugging: the backend, its samples, their time range and the marks.
  let chartInfo = null;

  function drawChart() {
    const cv = el.chart;
    const W = cv.clientWidth, H = cv.clientHeight;
    const ctx = fitCanvas(cv, W, H);
    if (!ctx) return;
    const pal = colors();
    const c = cards.get(chartName);
    const samples = c ? c.samples : [];
    const L = 52, R = 8, T = 8, B = 20;
    const w = W - L - R, h = H - T - B;
    const now = serverNow();
    const top = niceMax(maxOf(samples) * 1.05);
    const sp = span(samples, now);
    const x = (t) => L + w - ((now - t) / sp) * w;
    const y = (v) => T + h - (v / top) * h;
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    shadeStates(ctx, samples, x, T, h, pal);
    ctx.strokeStyle = pal.line;
    ctx.fillStyle = pal.muted;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    // top is 1, 2 or 5 times a power of ten: steps of 0.2, 0.5 or 1 times it.
    const mant = Math.round(top / Math.pow(10, Math.floor(Math.log10(top) + 1e-9)));
    const nTicks = mant === 2 ? 4 : 5;
    for (let i = 0; i <= nTicks; i++) {
      const v = (top / nTicks) * i, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(L + w, yy); ctx.stroke();
      ctx.fillText(ms(v), L - 6, yy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const step = sp <= 60000 ? 10000 : sp <= 180000 ? 30000 : 60000;
    for (let ago = Math.floor(sp / step) * step; ago >= 0; ago -= step) {
      const xx = Math.round(x(now - ago)) + 0.5;
      ctx.beginPath(); ctx.moveTo(xx, T); ctx.lineTo(xx, T + h); ctx.stroke();
      const label = ago === 0 ? 'now' : ago % 60000 === 0 ? '-' + ago / 60000 + 'm' : '-' + (ago / 1000) + 's';
      ctx.fillText(label, Math.min(Math.max(xx, L + 12), L + w - 12), T + h + 4);
    }
    const shown = marks.filter((m) => m.backend === chartName && now - m.t <= sp);
    chartInfo = {
      backend: chartName, samples: samples.length, spanMs: sp,
      oldest: samples.length ? samples[0].t : null, newest: samples.length ? samples[samples.length - 1].t : null,
      fromHistory: samples.filter((s) => !s.live).length,
      marks: shown.map((m) => ({ t: m.t, to: m.to, x: Math.round(x(m.t)) })),
    };
    el.chart.dataset.samples = String(samples.length);
    el.chart.dataset.marks = String(shown.length);
    if (!samples.length) {
      ctx.textBaseline = 'middle';
      ctx.fillText(c ? 'collecting samples…' : 'no backend', L + w / 2, T + h / 2);
      return;
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(L, T, w, h); ctx.clip();
    plot(ctx, samples, 'p99', x, y, pal.p99, 1.5);
    plot(ctx, samples, 'p95', x, y, pal.p95, 2);
    plot(ctx, samples, 'p50', x, y, pal.p50, 1.5);
    // State changes: a dashed line in the new state's colour with a
    // triangle on top.
    ctx.setLineDash([4, 3]);
    for (const m of shown) {
      const xx = Math.round(x(m.t)) + 0.5;
      ctx.strokeStyle = ctx.fillStyle = pal[m.to] || pal.muted;
      ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(xx, T); ctx.lineTo(xx, T + h); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(xx - 5, T); ctx.lineTo(xx + 5, T); ctx.lineTo(xx, T + 7); ctx.fill();
    }
    ctx.setLineDash([]);
    ctx.restore();
  }
  window.addEventListener('resize', () => { drawChart(); drawSparks(); });

  // ---- event timeline --------------------------------------------------

  const field = (ev, ...keys) => {
    for (const k of keys) if (ev[k] !== undefined && ev[k] !== null && ev[k] !== '') return ev[k];
    return undefined;
  };

  function eventText(ev) {
    const type = field(ev, 'event_type', 'type');
    const backend = field(ev, 'backend_name', 'backend');
    const from = field(ev, 'from_state', 'from'), to = field(ev, 'to_state', 'to');
    const parts = [];
    if (backend) parts.push(backend);
    if (type === 'OverrideSet' && to) parts.push('forced ' + stateWord(to));
    else if (from && to) parts.push(stateWord(from) + ' → ' + stateWord(to));
    else if (to) parts.push('→ ' + stateWord(to));
    const backends = field(ev, 'backends');
    if (Array.isArray(backends) && backends.length) parts.push(backends.join(', '));
    const attempt = field(ev, 'attempt');
    if (type === 'RecoveryFailed' && attempt) parts.push('attempt ' + attempt);
    const reason = field(ev, 'reason'), detail = field(ev, 'detail');
    if (detail) parts.push(String(detail));
    else if (reason) parts.push(String(reason));
    const rec = num(field(ev, 'recovery_duration_ms'));
    if (type === 'CircuitClosed' && rec) parts.push('recovered in ' + dur(rec));
    const author = field(ev, 'author');
    if (author) parts.push('by ' + author);
    return parts.join(' · ');
  }

  function eventNode(ev, fresh) {
    const type = String(field(ev, 'event_type', 'type') || 'event');
    const t = parseTime(field(ev, 'event_time', 'time'));
    const li = make('li', fresh ? 'new' : '');
    li.dataset.type = type;
    const id = field(ev, 'id');
    if (id !== undefined) li.dataset.eventId = String(id);
    const backend = field(ev, 'backend_name', 'backend');
    if (backend) li.dataset.backend = String(backend);
    const tm = make('span', 'ev-time', Number.isFinite(t) ? clock(t) : '');
    if (Number.isFinite(t)) tm.title = new Date(t).toISOString();
    li.append(tm, make('span', 'ev-type', type), make('span', 'ev-text', eventText(ev)));
    const reason = field(ev, 'reason');
    if (reason) li.title = String(reason);
    return li;
  }

  // An event's identity is its id and time: ids start again at 1 when the
  // proxy restarts, while this page lives on.
  const eventTime = (ev) => parseTime(field(ev, 'event_time', 'time')) || 0;
  const eventID = (ev) => Number(field(ev, 'id')) || 0;
  const eventKey = (ev) => {
    const id = field(ev, 'id');
    return id !== undefined ? id + '@' + eventTime(ev) : JSON.stringify(ev);
  };
  // newer orders events by time, then id (events of one millisecond).
  const newer = (a, b) => b.t - a.t || b.id - a.id;

  // addEvents puts events into the timeline (newest first), skipping ones
  // already shown; fresh ones flash.
  function addEvents(list, fresh) {
    const add = [];
    for (const ev of list) {
      if (!ev || typeof ev !== 'object') continue;
      const k = eventKey(ev);
      if (seenEvents.has(k)) continue;
      seenEvents.add(k);
      const li = eventNode(ev, fresh);
      li.sortKey = { t: eventTime(ev), id: eventID(ev), key: k };
      add.push(li);
    }
    if (!add.length) return;
    add.sort((a, b) => newer(a.sortKey, b.sortKey));
    const first = el.events.firstElementChild;
    if (!first || newer(add[add.length - 1].sortKey, first.sortKey) < 0) {
      // The usual case: live events, all newer than what is shown.
      const frag = document.createDocumentFragment();
      frag.append(...add);
      el.events.prepend(frag);
    } else {
      // History merged after live events: rebuild in order (rare).
      const all = [...el.events.children, ...add];
      all.sort((a, b) => newer(a.sortKey, b.sortKey));
      el.events.replaceChildren(...all);
    }
    while (el.events.children.length > MAX_EVENTS) {
      const last = el.events.lastElementChild;
      seenEvents.delete(last.sortKey.key);
      last.remove();
    }
    setText(el.eventsCount, el.events.children.length + ' shown');
  }

  async function loadHistory() {
    try {
      const data = await request('GET', api.history);
      const list = Array.isArray(data) ? data : data && Array.isArray(data.events) ? data.events : [];
      addEvents(list, false);
      addMarks(list);
      drawChart();
      clearError('history');
    } catch (e) {
      showError('history', 'Event history unavailable', e);
    }
  }

  // ---- live stream -----------------------------------------------------

  function setLive(v, text) {
    el.live.dataset.live = String(v);
    setText(el.live, text);
  }

  let stream = null;
  function connect() {
    if (typeof EventSource === 'undefined') {
      setLive(-1, 'no live updates (polling)');
      return;
    }
    stream = new EventSource(api.stream);
    const onEvent = (msg) => {
      let ev = null;
      try { ev = JSON.parse(msg.data); } catch (e) { ev = null; }
      if (ev && typeof ev === 'object') {
        if (!field(ev, 'event_type', 'type') && msg.type !== 'message') ev.event_type = msg.type;
        addEvents([ev], true);
        addMarks([ev]);
      }
      refresh();
    };
    for (const t of EVENT_TYPES) stream.addEventListener(t, onEvent);
    stream.onmessage = onEvent;
    stream.onopen = () => {
      setLive(1, 'live');
      refresh();
      loadHistory(); // fills what was missed while disconnected
    };
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. a non-stream answer); retry ourselves.
        setLive(-1, 'live updates lost, retrying');
        stream.close();
        setTimeout(connect, STREAM_RETRY_MS);
      } else {
        setLive(0, 'reconnecting');
      }
    };
  }

  // ---- admin actions ---------------------------------------------------

  el.token.value = sessionStorage.getItem(TOKEN_KEY) || '';
  function storeToken(v) {
    v = v.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
  }
  el.author.value = localStorage.getItem(AUTHOR_KEY) || '';
  el.author.addEventListener('input', () => {
    const v = el.author.value.trim();
    if (v) localStorage.setItem(AUTHOR_KEY, v); else localStorage.removeItem(AUTHOR_KEY);
  });
  el.token.addEventListener('input', () => storeToken(el.token.value));
  // The dialog is modal, so it has its own token field for when the token
  // is missing or rejected; it writes through to the one at the top.
  el.actionToken.addEventListener('input', () => {
    el.token.value = el.actionToken.value;
    storeToken(el.actionToken.value);
  });

  // pending is the action the dialog confirms: {kind, backend}.
  let pending = null;

  const ACTIONS = {
    'force-open': {
      title: (n) => 'Force ' + n + ' OPEN?',
      help: (n) => 'New sessions stop going to ' + n + ' until the override is cleared or expires; ' +
        'automatic recovery will not close it.',
      confirm: 'Force OPEN', danger: true, reason: true,
    },
    'force-closed': {
      title: (n) => 'Force ' + n + ' CLOSED?',
      help: (n) => 'Traffic goes to ' + n + ' even if its health checks fail; the breaker will not open it.',
      confirm: 'Force CLOSED', danger: true, reason: true,
    },
    'clear-override': {
      title: (n) => 'Clear the override on ' + n + '?',
      help: () => 'The circuit breaker decides again from live health.',
      confirm: 'Clear override', danger: false, reason: false,
    },
    'reload-config': {
      title: () => 'Reload the configuration?',
      help: () => 'The proxy re-reads its config file, validates all of it and applies it atomically; ' +
        'on any error the running config stays.',
      confirm: 'Reload config', danger: false, reason: false,
    },
  };

  function openAction(kind, backend) {
    const a = ACTIONS[kind];
    pending = { kind, backend };
    setText(el.actionTitle, a.title(backend));
    setText(el.actionHelp, a.help(backend));
    el.actionFields.hidden = !a.reason;
    el.reason.value = '';
    el.ttl.value = '';
    el.actionError.hidden = true;
    el.actionToken.value = el.token.value;
    el.tokenRow.hidden = el.token.value.trim() !== '';
    el.confirm.textContent = a.confirm;
    el.confirm.className = a.danger ? 'danger' : 'primary';
    el.confirm.disabled = false;
    el.dialog.dataset.action = kind;
    if (backend) el.dialog.dataset.backend = backend; else delete el.dialog.dataset.backend;
    if (!el.dialog.open) el.dialog.showModal();
    (a.reason ? el.reason : el.tokenRow.hidden ? el.confirm : el.actionToken).focus();
  }

  function formError(text) {
    el.actionError.textContent = text;
    el.actionError.hidden = false;
  }

  const TTL = /^\s*(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+\s*$/;

  el.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!pending) return;
    const { kind, backend } = pending;
    const a = ACTIONS[kind];
    const token = el.token.value.trim();
    const reason = el.reason.value.trim();
    const ttl = el.ttl.value.trim();
    if (a.reason && !reason) {
      formError('A reason is required.');
      el.reason.focus();
      return;
    }
    if (a.reason && ttl && !TTL.test(ttl)) {
      formError('Expiry must be a duration such as 15m, 1h30m or 90s.');
      el.ttl.focus();
      return;
    }
    if (!token) {
      formError('This action needs the admin token.');
      el.tokenRow.hidden = false;
      el.actionToken.focus();
      return;
    }
    el.confirm.disabled = true;
    el.actionError.hidden = true;
    try {
      let result = null;
      if (kind === 'force-open' || kind === 'force-closed') {
        const body = { state: kind === 'force-open' ? 'OPEN' : 'CLOSED', reason };
        if (ttl) body.ttl = ttl;
        result = await request('PUT', api.override(backend), body, token);
        notify(backend + ' forced ' + body.state + (ttl ? ' for ' + ttl : '') + '.');
      } else if (kind === 'clear-override') {
        result = await request('DELETE', api.override(backend), undefined, token);
        notify('Override on ' + backend + ' cleared.');
      } else {
        result = await request('POST', api.reload, undefined, token);
        notify(reloadSummary(result));
      }
      pending = null;
      el.dialog.close();
      refresh();
    } catch (err) {
      let text = (err.status ? 'HTTP ' + err.status + ': ' : '') + err.message;
      if (err.details.length) text += '\n• ' + err.details.join('\n• ');
      formError(text);
      if (err.status === 401) {
        el.tokenRow.hidden = false;
        el.actionToken.value = el.token.value;
        el.actionToken.select();
      }
      el.confirm.disabled = false;
    }
  });

  function reloadSummary(r) {
    if (!r || typeof r !== 'object') return 'Configuration reloaded.';
    const parts = [];
    const list = (k) => (Array.isArray(r[k]) && r[k].length ? r[k].join(', ') : '');
    if (list('added')) parts.push('added ' + list('added'));
    if (list('removed')) parts.push('removed ' + list('removed'));
    if (list('changed')) parts.push('changed ' + list('changed'));
    if (list('restart_required')) parts.push('restart required for ' + list('restart_required'));
    return 'Configuration reloaded' + (parts.length ? ': ' + parts.join('; ') : ' (no changes)') + '.';
  }

  el.cancel.addEventListener('click', () => { pending = null; el.dialog.close(); });
  el.dialog.addEventListener('close', () => { pending = null; });
  el.reload.addEventListener('click', () => openAction('reload-config', ''));

  // One listener for every card's buttons and charts.
  el.grid.addEventListener('click', (e) => {
    const card = e.target.closest('.card');
    if (!card) return;
    const btn = e.target.closest('button[data-action]');
    if (btn) {
      openAction(btn.dataset.action, card.dataset.backend);
    } else if (e.target.classList.contains('spark')) {
      selectChart(card.dataset.backend);
      el.chart.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
  });

  // ---- cluster ---------------------------------------------------------

  // renderCluster shows GET cluster/status: the members, configuration
  // differences, and the backends whose circuit differs between
  // instances (which instance sees what, and why). Hidden without a
  // cluster (no members).
  const clusterEl = {
    root: $('cluster'), summary: $('cluster-summary'), warnings: $('cluster-warnings'),
    members: document.querySelector('#cluster-members tbody'), agree: $('cluster-agree'),
    table: $('cluster-disagreements'),
  };
  function renderCluster(c) {
    const members = (c && Array.isArray(c.members)) ? c.members : [];
    setHidden(clusterEl.root, members.length === 0);
    if (!members.length) return;
    const alive = members.filter((m) => m.state === 'alive').length;
    const hashes = Object.keys(c.config_hashes || {}).length;
    setText(clusterEl.summary, alive + ' of ' + members.length + ' instances alive' +
      (hashes > 1 ? ', ' + hashes + ' different configurations' : ''));
    clusterEl.warnings.replaceChildren(...(c.warnings || []).map((w) => make('li', '', w)));
    const self = members.find((m) => m.is_self);
    clusterEl.members.replaceChildren(...members.map((m) => {
      const tr = make('tr');
      tr.dataset.node = m.node;
      tr.append(make('td', '', m.node + (m.is_self ? ' (this one)' : '')), make('td', 'm-' + m.state, m.state),
        make('td', '', m.address || ''), make('td', '', m.last_contact ? clock(Date.parse(m.last_contact)) : 'never'),
        make('td', '', m.version || ''),
        make('td', self && m.config_hash !== self.config_hash ? 'differs' : '', m.config_hash || ''));
      return tr;
    }));
    const nodes = members.filter((m) => m.state === 'alive').map((m) => m.node);
    const byKey = new Map();
    for (const v of c.circuits || []) byKey.set(v.backend_name + '\u0000' + v.node, v);
    const rows = (c.disagreements || []).map((d) => {
      const tr = make('tr');
      tr.dataset.backend = d.backend_name;
      tr.append(make('td', '', d.backend_name));
      for (const n of nodes) {
        const v = byKey.get(d.backend_name + '\u0000' + n);
        const st = d.states[n] || 'CLOSED';
        const why = v && (v.reason || v.recovery_role) ? ' (' + [v.reason, v.recovery_role].filter(Boolean).join(', ') + ')' : '';
        const td = make('td', 's-' + st, st + why);
        if (v && v.detail) td.title = v.detail;
        tr.append(td);
      }
      return tr;
    });
    setHidden(clusterEl.agree, rows.length > 0);
    setHidden(clusterEl.table, rows.length === 0);
    clusterEl.table.tHead.rows[0].replaceChildren(make('th', '', 'Backend'), ...nodes.map((n) => make('th', '', n)));
    clusterEl.table.tBodies[0].replaceChildren(...rows);
  }

  // ---- start -----------------------------------------------------------

  setInterval(() => {
    const now = serverNow();
    for (const c of cards.values()) if (c.visible) tickCard(c, now);
  }, 1000);

  // Poll as a fallback to the stream, and to collect latency samples.
  (function poll() {
    const p = refreshing || refresh();
    p.finally(() => setTimeout(poll, POLL_MS));
  })();
  loadHistory();
  connect();

  // For tests and debugging: render count and the last render's duration.
  window.heliosDashboard = {
    refresh,
    stats: () => ({ renders, lastRenderMs, cards: cards.size, events: el.events.children.length }),
    chart: () => chartInfo,
  };
})();
