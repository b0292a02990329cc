// Advisor page: draws GET /api/v1/graph with cytoscape.js (vendored in
// /static/cytoscape.min.js), namespaces as boxes, and marks the impact of the
// previewed change, read from the data attributes of #impact after each htmx
// swap. No inline script (the Content-Security-Policy forbids it); the page's
// table of connections says everything the drawing shows.
(function () {
  'use strict';

  const el = document.getElementById('graph');
  if (!el || typeof window.cytoscape !== 'function') return;

  const css = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const C = {
    fg: colour('--fg', '#1d2024'),
    muted: colour('--muted', '#5f6670'),
    line: colour('--line', '#d9dce1'),
    panel: colour('--panel', '#ffffff'),
    bg: colour('--bg', '#fbfbfa'),
    accent: colour('--accent', '#1f5fbf'),
    safe: colour('--safe', '#1c7c3a'),
    risky: colour('--risky', '#8a5a00'),
    riskyBg: colour('--risky-bg', '#fff4d6'),
    danger: colour('--danger', '#a3201f'),
    dangerBg: colour('--danger-bg', '#fde8e7'),
  };

  // Beyond this many nodes, edges are drawn straight and hidden while panning.
  const LARGE = 300;

  const detail = document.getElementById('graph-detail');
  const count = document.getElementById('graph-count');
  const nsSelect = document.getElementById('graph-namespace');
  const focusSelect = document.getElementById('graph-focus');
  const resetButton = document.getElementById('graph-reset');
  const tools = document.getElementById('graph-tools');
  const snapshot = el.dataset.snapshot;

  let cy = null;
  const edgeByKey = new Map();

  function say(text) {
    if (detail) detail.textContent = text;
  }

  function workloadUrl(node) {
    const enc = encodeURIComponent;
    const q = snapshot ? '?snapshot=' + enc(snapshot) : '';
    return '/namespaces/' + enc(node.data('ns')) + '/workloads/' + enc(node.data('kind')) + '/' + enc(node.data('name')) + q;
  }

  function nodeLabel(n) {
    const glyph = n.hasClass('rejected') ? '✗ ' : n.hasClass('warned') ? '⚠ ' : n.hasClass('downstream') ? '↯ ' : '';
    return glyph + n.data('name');
  }

  function edgeLabel(e) {
    if (e.hasClass('broken')) return '✗ breaks :' + e.data('port');
    if (!e.data('allowed')) return '⊘ denied :' + e.data('port');
    return '';
  }

  function relabel() {
    cy.batch(() => {
      cy.nodes('.workload, .external').forEach((n) => n.data('label', nodeLabel(n)));
      cy.edges().forEach((e) => e.data('label', edgeLabel(e)));
    });
  }

  function style(large) {
    return [
      {
        selector: 'node.workload, node.external',
        style: {
          shape: 'round-rectangle',
          'background-color': C.panel,
          'border-width': 1.5,
          'border-color': C.muted,
          label: 'data(label)',
          color: C.fg,
          'font-size': 11,
          'text-valign': 'center',
          'text-halign': 'center',
          width: 'label',
          height: 'label',
          padding: '6px',
          'min-zoomed-font-size': 7,
        },
      },
      {
        selector: 'node.external',
        style: { shape: 'cut-rectangle', 'border-color': C.accent, 'border-width': 2, color: C.accent },
      },
      {
        selector: 'node.namespace',
        style: {
          'background-color': C.bg,
          'background-opacity': 0.6,
          'border-width': 1,
          'border-style': 'dashed',
          'border-color': C.muted,
          label: 'data(label)',
          color: C.muted,
          'font-weight': 'bold',
          'font-size': 12,
          'text-valign': 'top',
          'text-halign': 'center',
          'text-margin-y': -4,
          padding: '14px',
          'min-zoomed-font-size': 5,
        },
      },
      {
        selector: 'edge',
        style: {
          width: 1.3,
          'line-color': C.muted,
          'target-arrow-color': C.muted,
          'target-arrow-shape': 'triangle',
          'arrow-scale': 0.8,
          'curve-style': large ? 'straight' : 'bezier',
          opacity: 0.7,
          label: 'data(label)',
          'font-size': 9,
          color: C.muted,
          'text-background-color': C.panel,
          'text-background-opacity': 0.85,
          'text-background-padding': '1px',
          // Edge labels appear once zoomed in; the line style already says broken or denied.
          'min-zoomed-font-size': 10,
        },
      },
      { selector: 'edge.denied', style: { 'line-style': 'dotted', width: 1.6 } },
      {
        selector: 'node.rejected',
        style: { 'background-color': C.dangerBg, 'border-color': C.danger, 'border-width': 3, color: C.danger, 'font-weight': 'bold' },
      },
      {
        selector: 'node.warned',
        style: { 'background-color': C.riskyBg, 'border-color': C.risky, 'border-width': 2.5, color: C.risky },
      },
      {
        selector: 'node.downstream',
        style: { 'border-color': C.risky, 'border-width': 3, 'border-style': 'double' },
      },
      {
        selector: 'edge.broken',
        style: {
          'line-color': C.danger,
          'target-arrow-color': C.danger,
          'line-style': 'dashed',
          width: 3,
          opacity: 1,
          color: C.danger,
          'font-weight': 'bold',
          'z-index': 10,
        },
      },
      { selector: 'node.focus', style: { 'border-color': C.accent, 'border-width': 4 } },
      { selector: '.context', style: { opacity: 0.45 } },
      { selector: '.hidden', style: { display: 'none' } },
    ];
  }

  // Rows by call depth: a node's depth is its distance from the callers
  // nobody calls (and from outside the cluster), so calls run downwards.
  function depths(nodes) {
    const depth = new Map();
    const queue = [];
    nodes.forEach((n) => {
      const callers = n.incomers('node').filter((m) => m.id() !== n.id() && nodes.has(m));
      if (callers.length === 0) {
        depth.set(n.id(), 0);
        queue.push(n);
      }
    });
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i];
      const d = depth.get(n.id());
      n.outgoers('node').forEach((m) => {
        if (nodes.has(m) && !depth.has(m.id())) {
          depth.set(m.id(), d + 1);
          queue.push(m);
        }
      });
    }
    nodes.forEach((n) => { if (!depth.has(n.id())) depth.set(n.id(), 0); });
    return depth;
  }

  // Namespaces as boxes on a grid; inside a box, workloads in rows by call
  // depth. Fast and stable at any size, readable at the seed's.
  function layeredPositions(nodes) {
    const depth = depths(nodes);
    const byNs = new Map();
    nodes.forEach((n) => {
      const ns = n.hasClass('external') ? '' : n.data('ns');
      if (!byNs.has(ns)) byNs.set(ns, []);
      byNs.get(ns).push(n);
    });
    const rowH = 58;
    const gap = 80;
    const blocks = [...byNs.keys()].sort().map((ns) => {
      const list = byNs.get(ns);
      const widest = Math.max(...list.map((n) => String(n.data('label')).length));
      const cellW = Math.max(90, widest * 7 + 36);
      const min = Math.min(...list.map((n) => depth.get(n.id())));
      const rows = new Map();
      for (const n of list) {
        const d = depth.get(n.id()) - min;
        if (!rows.has(d)) rows.set(d, []);
        rows.get(d).push(n);
      }
      // Wide rows wrap, so a namespace never grows wider than ~8 workloads.
      const lines = [];
      for (const d of [...rows.keys()].sort((a, b) => a - b)) {
        const row = rows.get(d).sort((a, b) => (a.data('name') < b.data('name') ? -1 : 1));
        for (let i = 0; i < row.length; i += 8) lines.push(row.slice(i, i + 8));
      }
      const cols = Math.max(...lines.map((l) => l.length));
      return { lines, cellW, w: cols * cellW, h: lines.length * rowH };
    });
    const box = el.getBoundingClientRect();
    const aspect = box.width > 0 && box.height > 0 ? box.width / box.height : 1.5;
    const area = blocks.reduce((s, b) => s + (b.w + gap) * (b.h + gap), 0);
    const maxW = Math.max(Math.max(...blocks.map((b) => b.w)), Math.sqrt(area * aspect));
    const pos = {};
    let x = 0;
    let y = 0;
    let lineH = 0;
    for (const b of blocks) {
      if (x > 0 && x + b.w > maxW) {
        x = 0;
        y += lineH + gap;
        lineH = 0;
      }
      b.lines.forEach((line, r) => {
        const offset = (b.w - line.length * b.cellW) / 2;
        line.forEach((n, i) => {
          pos[n.id()] = { x: x + offset + i * b.cellW + b.cellW / 2, y: y + r * rowH };
        });
      });
      x += b.w + gap;
      lineH = Math.max(lineH, b.h);
    }
    return pos;
  }

  function layout(eles) {
    const nodes = eles.nodes('.workload, .external');
    const pos = layeredPositions(nodes);
    eles.layout({ name: 'preset', positions: (n) => pos[n.id()], fit: false }).run();
    cy.fit(eles.filter((e) => !e.hasClass('hidden')), 24);
  }

  function show(nodes, contextNodes) {
    cy.batch(() => {
      const keep = nodes.union(contextNodes);
      const parents = keep.parents();
      const edges = keep.edgesWith(keep);
      const visible = keep.union(parents).union(edges);
      cy.elements().removeClass('context');
      cy.elements().not(visible).addClass('hidden');
      visible.removeClass('hidden');
      contextNodes.difference(nodes).addClass('context');
      if (count) count.textContent = keep.length + ' of ' + cy.nodes('.workload, .external').length + ' nodes shown';
    });
    layout(cy.elements().not('.hidden'));
  }

  function showAll() {
    cy.batch(() => {
      cy.elements().removeClass('hidden context focus');
    });
    if (count) count.textContent = '';
    layout(cy.elements());
  }

  function showNamespace(ns) {
    if (!ns) return showAll();
    cy.nodes().removeClass('focus');
    const core = cy.nodes('.workload').filter((n) => n.data('ns') === ns);
    const around = core.neighborhood().nodes('.workload, .external');
    show(core, around);
  }

  function focusOn(id) {
    if (!id) return showAll();
    const n = cy.getElementById(id);
    if (n.empty()) return;
    cy.nodes().removeClass('focus');
    n.addClass('focus');
    const around = n.neighborhood().nodes('.workload, .external');
    show(n, around);
    if (focusSelect && focusSelect.value !== id) focusSelect.value = id;
    say('Focused on ' + id + ': ' + around.length + ' neighbours. “Show everything” brings the rest back.');
  }

  function describeEdge(e) {
    const verdict = e.data('allowed')
      ? (e.data('policy') ? '✓ allowed by ' + e.data('policy') : '✓ allowed (no policy selects either end)')
      : '⊘ denied by ' + e.data('policy');
    const broken = e.hasClass('broken') ? ' — ✗ would break' : '';
    return e.data('source') + ' → ' + e.data('target') + ' :' + e.data('port') + '/' + e.data('protocol') + ' — ' + verdict + broken + ' — ' + (e.data('evidence') || []).join('; ');
  }

  function describeNode(n) {
    const state = n.hasClass('rejected') ? '✗ rejected under the change'
      : n.hasClass('warned') ? '⚠ warned under the change'
      : n.hasClass('downstream') ? '↯ loses a dependency'
      : '✓ admitted';
    return n.id() + ' (' + n.data('kind') + ') — ' + state + ' — ' + n.indegree() + ' in, ' + n.outdegree() + ' out';
  }

  function readList(panel, key) {
    try {
      return JSON.parse(panel.dataset[key] || '[]');
    } catch (_) {
      return [];
    }
  }

  // Marks the impact of the previewed change (the #impact panel's data).
  function applyImpact() {
    const panel = document.getElementById('impact');
    if (!cy || !panel) return;
    const blocked = readList(panel, 'blocked');
    const warned = readList(panel, 'warned');
    const downstream = readList(panel, 'downstream');
    const broken = readList(panel, 'broken');
    cy.batch(() => {
      cy.elements().removeClass('rejected warned downstream broken');
      for (const id of downstream) cy.getElementById(id).addClass('downstream');
      for (const id of warned) cy.getElementById(id).addClass('warned');
      for (const id of blocked) cy.getElementById(id).removeClass('warned downstream').addClass('rejected');
      for (const [from, to, port, protocol] of broken) {
        const e = edgeByKey.get(from + '|' + to + '|' + port + '|' + protocol);
        if (e) e.addClass('broken');
      }
    });
    relabel();
    el.dataset.rejected = String(blocked.length);
    el.dataset.broken = String(cy.edges('.broken').length);
    if (blocked.length || broken.length || downstream.length || warned.length) {
      say('Highlighted: ✗ ' + blocked.length + ' rejected, ⚠ ' + warned.length + ' warned, ✗ ' + broken.length
        + ' broken connections, ↯ ' + downstream.length + ' losing a dependency.');
    }
  }

  function draw(g) {
    const large = g.nodes.length > LARGE;
    const elements = [];
    const namespaces = [...new Set(g.nodes.map((n) => n.namespace).filter(Boolean))].sort();
    for (const ns of namespaces) {
      elements.push({ group: 'nodes', data: { id: 'ns:' + ns, label: ns, ns }, classes: 'namespace' });
    }
    for (const n of g.nodes) {
      const external = n.namespace == null;
      const data = {
        id: n.id,
        name: external ? 'outside the cluster' : n.name,
        kind: n.kind,
        ns: n.namespace || '',
        label: external ? 'outside the cluster' : n.name,
      };
      if (!external) data.parent = 'ns:' + n.namespace;
      elements.push({ group: 'nodes', data, classes: external ? 'external' : 'workload' });
    }
    g.edges.forEach((e, i) => {
      elements.push({
        group: 'edges',
        data: {
          id: 'e' + i,
          source: e.from,
          target: e.to,
          port: e.port,
          protocol: e.protocol,
          evidence: e.evidence,
          allowed: e.allowed,
          policy: e.policy,
          label: '',
        },
        classes: e.allowed ? 'allowed' : 'denied',
      });
    });
    el.textContent = '';
    cy = window.cytoscape({
      container: el,
      elements,
      style: style(large),
      layout: { name: 'preset' },
      minZoom: 0.05,
      maxZoom: 3,
      textureOnViewport: large,
      hideEdgesOnViewport: large,
      boxSelectionEnabled: false,
    });
    cy.edges().forEach((e) => edgeByKey.set(e.data('source') + '|' + e.data('target') + '|' + e.data('port') + '|' + e.data('protocol'), e));
    relabel();
    layout(cy.elements());

    cy.on('tap', 'node.workload', (ev) => {
      window.location.href = workloadUrl(ev.target);
    });
    cy.on('cxttap', 'node.workload, node.external', (ev) => focusOn(ev.target.id()));
    cy.on('mouseover', 'edge', (ev) => say(describeEdge(ev.target)));
    cy.on('mouseover', 'node.workload, node.external', (ev) => say(describeNode(ev.target)));

    if (tools) tools.hidden = false;
    if (nsSelect) nsSelect.addEventListener('change', () => {
      if (focusSelect) focusSelect.value = '';
      showNamespace(nsSelect.value);
    });
    if (focusSelect) focusSelect.addEventListener('change', () => {
      if (nsSelect) nsSelect.value = '';
      focusOn(focusSelect.value);
    });
    if (resetButton) resetButton.addEventListener('click', () => {
      if (nsSelect) nsSelect.value = '';
      if (focusSelect) focusSelect.value = '';
      showAll();
    });

    el.dataset.ready = 'true';
    window.portcullisAdvisor = { cy, applyImpact, focusOn, showNamespace };
    applyImpact();
  }

  fetch(el.dataset.graphUrl, { headers: { Accept: 'application/json' } })
    .then((r) => {
      if (!r.ok) throw new Error('the server answered ' + r.status);
      return r.json();
    })
    .then(draw)
    .catch((e) => {
      el.textContent = 'The graph could not be drawn (' + e.message + '). The table of connections below lists everything.';
    });

  document.addEventListener('htmx:afterSettle', applyImpact);
})();
