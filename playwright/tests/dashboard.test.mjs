// An operator's first visit: overview, filter to one namespace, open a workload,
// read a cell of the security grid, take a screenshot.
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

test('overview shows the demo cluster and its risky settings', async () => {
  const page = await browser.newPage();
  await page.goto(server.url + '/');
  assert.equal(await page.title(), 'Overview · Portcullis');
  const workloads = Number(await page.getByTestId('count-workloads').textContent());
  const namespaces = Number(await page.getByTestId('count-namespaces').textContent());
  assert.ok(workloads >= 30, `expected at least 30 workloads, saw ${workloads}`);
  assert.ok(namespaces >= 5, `expected at least 5 namespaces, saw ${namespaces}`);
  const privileged = Number(await page.locator('td[data-flag="privileged"]').textContent());
  assert.ok(privileged >= 1, 'the demo cluster has privileged containers');
  await page.close();
});

test('filter the workload list to one namespace, open a workload, read the grid', async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  await page.goto(server.url + '/workloads');
  const total = Number(await page.getByTestId('workload-total').textContent());

  // htmx swaps the table in place and pushes the filter into the URL.
  await page.selectOption('#namespace', 'monitoring');
  await page.waitForURL(/namespace=monitoring/);
  await page.waitForFunction(
    (t) => Number(document.querySelector('[data-testid="workload-total"]')?.textContent) < t, total);
  const namespaces = await page.locator('table.workloads tbody tr td:first-child').allTextContents();
  assert.ok(namespaces.length > 0);
  assert.ok(namespaces.every((n) => n === 'monitoring'), `rows outside the filter: ${namespaces}`);

  // The filter survives a plain reload (state lives in the URL).
  await page.reload();
  assert.equal(await page.locator('#namespace').inputValue(), 'monitoring');

  // Open the node agent: it shares the host's PID namespace.
  await page.getByRole('link', { name: 'node-exporter' }).click();
  await page.waitForURL(/\/namespaces\/monitoring\/workloads\/DaemonSet\/node-exporter/);
  const cell = page.locator('tr[data-control="host-namespaces"] td').first();
  assert.match(await cell.locator('.value').textContent(), /host/i);
  assert.match(await cell.locator('.verdict').textContent(), /dangerous|risky/);
  // The verdicts under each Pod Security level, with the upstream messages.
  const restricted = page.locator('[data-profile="restricted"]');
  assert.match(await restricted.textContent(), /rejected/);
  assert.match(await restricted.textContent(), /host namespaces \(hostNetwork=true, hostPID=true\)/);
  await page.screenshot({ path: join(shots, 'workload.png'), fullPage: true });
  await page.close();
});

test('unknown workload gives a clear not-found page', async () => {
  const page = await browser.newPage();
  const resp = await page.goto(server.url + '/namespaces/nope/workloads/Deployment/missing');
  assert.equal(resp.status(), 404);
  assert.match(await page.locator('.error').textContent(), /no workload nope\/Deployment\/missing/);
  await page.close();
});
