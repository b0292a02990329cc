// Hostile input: names, labels, annotations, env values and images full of
// HTML, JavaScript, quotes, Unicode tricks and a 100 KB string, loaded with
// `serve --manifests`. Every page must show them as text: no element they
// describe may exist in the DOM, no script may run, and the pages still work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser } from './harness.mjs';

const XSS = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
const QUOTES = `"'><svg onload="window.__pwned=3">`;
const TRICKS = 'admin\u202Egnp.exe\u200B\u0000\uFEFF';
const BIG = 'A'.repeat(100 * 1024);

const manifests = `
apiVersion: v1
kind: Namespace
metadata:
  name: evil
  labels:
    team: '${QUOTES.replace(/'/g, "''")}'
  annotations:
    note: '${XSS.replace(/'/g, "''")}'
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: "x<script>window.__pwned=4</script>"
  namespace: evil
  labels: {app: evil}
  annotations:
    big: "${BIG}"
    tricks: "${TRICKS.replace('\u0000', '')}"
spec:
  selector: {matchLabels: {app: evil}}
  template:
    metadata:
      labels: {app: evil}
      annotations:
        container.apparmor.security.beta.kubernetes.io/c: '${XSS.replace(/'/g, "''")}'
    spec:
      hostNetwork: true
      containers:
      - name: "c"
        image: '${QUOTES.replace(/'/g, "''")}'
        env:
        - {name: BACKEND_URL, value: 'http://svc<b>:80/${XSS.replace(/'/g, "''")}'}
        securityContext: {privileged: true}
---
apiVersion: v1
kind: Service
metadata:
  name: "svc-x"
  namespace: evil
  annotations: {x: '${XSS.replace(/'/g, "''")}'}
spec:
  selector: {app: evil}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: "deny<script>"
  namespace: evil
spec:
  podSelector: {matchLabels: {app: '${QUOTES.replace(/'/g, "''")}'}}
  policyTypes: [Ingress]
`;

let server;
let browser;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-hostile-'));
  writeFileSync(join(dir, 'evil.yaml'), manifests);
  server = await startServer(['--manifests', dir]);
  browser = await launchBrowser();
  // Alerts and the confirm page carry the names too: assign restricted to evil.
  const res = await fetch(server.url + '/api/v1/assignments', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'namespace/evil', profile: 'restricted', mode: 'enforce' }),
  });
  assert.equal(res.status, 201, await res.text());
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens `path`, fails on any dialog or script the input smuggled in. */
async function visit(page, path) {
  const res = await page.goto(server.url + path);
  assert.ok(res.ok(), `${path}: HTTP ${res.status()}`);
  await page.waitForLoadState('networkidle');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, `${path}: a smuggled script ran`);
  const smuggled = await page.evaluate(() => ({
    img: document.querySelectorAll('img[src="x"]').length,
    svg: document.querySelectorAll('svg[onload]').length,
    scripts: [...document.scripts].filter((s) => !s.src).map((s) => s.textContent).filter((t) => t.includes('__pwned')).length,
    bold: document.querySelectorAll('b').length,
  }));
  assert.deepEqual(smuggled, { img: 0, svg: 0, scripts: 0, bold: 0 }, `${path}: markup from the input became elements`);
}

test('hostile names, labels, annotations, env values and images render as text everywhere', async () => {
  const page = await browser.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  for (const path of ['/', '/namespaces', '/workloads', '/workloads?q=script', '/advisor', '/alerts',
    '/alerts?namespace=evil', '/settings', '/snapshots', '/profiles', '/admission',
    '/export?target=namespace/evil&profile=restricted&mode=enforce',
    '/assign?target=namespace/evil&profile=baseline&mode=warn']) {
    await visit(page, path);
  }

  // The workload page, reached by its link: the name shows as text.
  await visit(page, '/workloads?namespace=evil');
  await page.getByRole('link', { name: /x<script>/ }).first().click();
  await page.waitForLoadState('networkidle');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.match(await page.locator('h1').textContent(), /x<script>window.__pwned=4<\/script>/);
  assert.ok((await page.content()).includes('&lt;img src=x'), 'the annotation text is escaped');
  // Still usable: the grid is there and the page keeps working.
  assert.ok(await page.locator('table').count() > 0);

  // The graph draws the hostile names as labels, not markup.
  await visit(page, '/advisor');
  const graph = await (await fetch(server.url + '/api/v1/graph')).json();
  assert.ok(graph.nodes.some((n) => n.name.includes('<script>')), 'the graph JSON carries the name as data');

  assert.deepEqual(dialogs, [], 'no dialog opened');
  assert.deepEqual(errors, [], 'no page error');
  await page.close();
});
