// The policy advisor: propose "restricted, enforce" for the seed's shop
// namespace and see the rejected workloads and the broken connections both in
// the impact list and highlighted in the graph; focus on one workload; open a
// workload from the graph.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser } from './harness.mjs';

const shots = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens the Advisor page and waits for the graph to be drawn. */
async function openAdvisor() {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Script errors and failed requests (the browser's own favicon probe aside).
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(server.url + '/advisor');
  await page.waitForSelector('#graph[data-ready="true"]', { timeout: 20_000 });
  return { page, errors };
}

test('restricted, enforce on shop: rejected workloads and broken connections stand out', async () => {
  const { page, errors } = await openAdvisor();
  assert.equal(await page.title(), 'Advisor · Portcullis');

  const drawn = await page.evaluate(() => ({
    nodes: window.portcullisAdvisor.cy.nodes('.workload').length,
    edges: window.portcullisAdvisor.cy.edges().length,
    denied: window.portcullisAdvisor.cy.edges('.denied').map((e) => e.id()).length,
  }));
  assert.equal(drawn.nodes, 45);
  assert.ok(drawn.edges >= 56, `expected the README's 56 connections at least, drew ${drawn.edges}`);
  assert.equal(drawn.denied, 1, 'shipping -> orders-queue is denied today');

  await page.selectOption('#target', 'namespace/shop');
  await page.selectOption('#profile', 'restricted:latest');
  await page.check('input[name="mode"][value="enforce"]');
  await page.click('#preview');
  await page.waitForSelector('[data-testid="blocked"]');

  // The impact list, in words.
  const blocked = await page.locator('[data-testid="blocked"] > li > a').allTextContents();
  assert.equal(blocked.length, 12, `blocked: ${blocked}`);
  assert.ok(blocked.includes('shop/Deployment/catalog'));
  assert.ok(!blocked.includes('shop/Deployment/cart'), 'cart is restricted already');
  const broken = await page.locator('[data-testid="broken"] li').allTextContents();
  assert.ok(broken.some((b) => b.includes('shop/Deployment/storefront') && b.includes('shop/Deployment/cart')),
    `broken: ${broken.slice(0, 5)}`);
  assert.ok(broken.some((b) => b.startsWith('external') && b.includes('would be rejected')));
  const downstream = await page.locator('[data-testid="downstream"] li').allTextContents();
  assert.ok(downstream.some((d) => d.startsWith('monitoring/Deployment/grafana')), `downstream: ${downstream}`);

  // The graph: rejected workloads and broken connections marked, with a glyph as well as colour.
  await page.waitForFunction(() => document.getElementById('graph').dataset.rejected === '12');
  const marked = await page.evaluate(() => {
    const cy = window.portcullisAdvisor.cy;
    const catalog = cy.getElementById('shop/Deployment/catalog');
    const cart = cy.getElementById('shop/Deployment/cart');
    const edge = cy.edges().filter((e) => e.data('source') === 'shop/Deployment/storefront'
      && e.data('target') === 'shop/Deployment/cart')[0];
    return {
      rejected: cy.nodes('.rejected').map((n) => n.id()),
      catalogLabel: catalog.data('label'),
      catalogBorder: catalog.style('border-color'),
      cartRejected: cart.hasClass('rejected'),
      broken: cy.edges('.broken').length,
      edgeBroken: edge.hasClass('broken'),
      edgeLabel: edge.data('label'),
      edgeStyle: edge.style('line-style'),
      downstream: cy.nodes('.downstream').map((n) => n.id()),
    };
  });
  assert.equal(marked.rejected.length, 12);
  assert.match(marked.catalogLabel, /^✗ catalog$/);
  assert.equal(marked.cartRejected, false);
  assert.ok(marked.broken >= broken.length, `${marked.broken} broken edges drawn for ${broken.length} listed`);
  assert.ok(marked.edgeBroken);
  assert.match(marked.edgeLabel, /^✗ breaks :7070$/);
  assert.equal(marked.edgeStyle, 'dashed');
  assert.ok(marked.downstream.includes('monitoring/Deployment/grafana'));
  assert.match(await page.locator('#graph-detail').textContent(), /✗ 12 rejected/);

  // Before and after, side by side.
  const rows = await page.locator('[data-testid="before-after"] tbody tr').allTextContents();
  assert.ok(rows.some((r) => /rejected workloads\s*0\s*12/.test(r)), `rows: ${rows}`);

  await page.screenshot({ path: join(shots, 'advisor.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no script errors (CSP included)');
  await page.close();
});

test('filter the graph to a namespace, focus on a workload, open it', async () => {
  const { page, errors } = await openAdvisor();
  await page.selectOption('#graph-namespace', 'payments-secure');
  await page.waitForFunction(() => /nodes shown/.test(document.getElementById('graph-count').textContent));
  const shown = await page.evaluate(() => window.portcullisAdvisor.cy.nodes('.workload').filter((n) => !n.hasClass('hidden')).map((n) => n.id()));
  assert.ok(shown.includes('payments-secure/StatefulSet/ledger'));
  assert.ok(shown.includes('shop/Deployment/payments'), 'neighbours stay, faded');
  assert.ok(!shown.includes('legacy/Deployment/inventory-sync'));

  await page.selectOption('#graph-focus', 'shop/Deployment/checkout');
  await page.waitForFunction(() => /Focused on shop\/Deployment\/checkout/.test(document.getElementById('graph-detail').textContent));
  const focused = await page.evaluate(() => window.portcullisAdvisor.cy.nodes('.workload').filter((n) => !n.hasClass('hidden')).map((n) => n.id()));
  assert.ok(focused.includes('shop/Deployment/cart') && focused.includes('shop/Deployment/storefront'), `${focused}`);
  assert.ok(focused.length < 20);

  // A click on a node opens its workload page.
  const point = await page.evaluate(() => {
    const n = window.portcullisAdvisor.cy.getElementById('shop/Deployment/checkout');
    const p = n.renderedPosition();
    const box = document.getElementById('graph').getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  });
  await page.mouse.click(point.x, point.y);
  await page.waitForURL(/\/namespaces\/shop\/workloads\/Deployment\/checkout/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a NetworkPolicy with a YAML mistake is named at the form', async () => {
  const { page } = await openAdvisor();
  await page.fill('#apply', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  podSelector: [oops\n');
  await page.click('#preview');
  await page.waitForSelector('[data-testid="impact-error"]');
  assert.match(await page.getByTestId('impact-error').textContent(), /does not parse \(line \d+\)/);
  await page.close();
});
