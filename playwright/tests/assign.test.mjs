// Assign restricted (enforce) to a demo namespace from the Namespaces page,
// through the preview, see the row change and the alerts appear (live, without
// a new snapshot), acknowledge one, then undo the assignment from the audit
// log on Settings and see its alerts resolve.
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

test('assign restricted to shop through the preview, see alerts, acknowledge, undo from Settings', async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  await page.goto(server.url + '/namespaces');
  const row = page.locator('tr[data-namespace="shop"]');
  const enforce = row.locator('[data-testid="in-force"] li[data-mode="enforce"]');
  const was = (await enforce.textContent()).trim();
  assert.ok(!was.includes('(assigned'), `shop starts without an assignment: ${was}`);

  // The row's form: restricted, enforce → the confirm step.
  const form = row.getByTestId('assign-form');
  await form.locator('select[name="profile"]').selectOption('restricted');
  await form.locator('select[name="mode"]').selectOption('enforce');
  await form.getByRole('button', { name: 'Assign…' }).click();
  await page.waitForURL(/\/assign\?/);
  await page.getByTestId('before-after').waitFor();
  assert.match(await page.locator('h1').textContent(), /Assign restricted \(enforce\) to namespace shop/);
  assert.match(await page.getByTestId('replaces').textContent(), /nothing: no assignment yet/);
  const rejected = await page.getByTestId('blocked').locator('li').count();
  assert.ok(rejected > 0, 'restricted rejects some shop workloads');
  await page.screenshot({ path: join(shots, 'assign-confirm.png'), fullPage: true });

  // Apply: back on Namespaces with a notice, the row changed.
  await page.getByTestId('apply').click();
  await page.waitForURL(/\/namespaces\?applied=\d+/);
  assert.match(await page.getByTestId('notice').textContent(), /Assigned restricted \(enforce\) to namespace shop/);
  const now = (await enforce.textContent()).replace(/\s+/g, ' ').trim();
  assert.match(now, /enforce: restricted:latest \(assigned/);

  // Alerts: the assignment raises alerts for shop at once; the table
  // refreshes itself every few seconds, so wait for them to show.
  await page.goto(server.url + '/alerts?namespace=shop&mode=enforce');
  const mine = page.getByTestId('alert-row').filter({ hasText: 'restricted:latest' });
  await mine.first().waitFor({ timeout: 20000 });
  const raised = await mine.count();
  assert.ok(raised > 0, 'restricted in enforce raises alerts in shop');
  const first = mine.first();
  const firstId = await first.getAttribute('id');
  assert.match(await first.getByTestId('alert-state').textContent(), /open/);
  await first.getByTestId('acknowledge').click();
  const acked = page.locator(`#${firstId}`);
  await acked.getByTestId('alert-state').filter({ hasText: 'acknowledged' }).waitFor();
  await page.screenshot({ path: join(shots, 'alerts.png'), fullPage: true });

  // Settings: the audit log has both, newest first; Undo restores the row.
  await page.goto(server.url + '/settings');
  const ack = page.getByTestId('audit').locator('tbody tr').first();
  assert.match(await ack.textContent(), /Acknowledged alert \d+ of shop\//);
  assert.match(await ack.textContent(), /cannot undo/);
  const entry = page.getByTestId('audit').locator('tbody tr[data-action="assign"]').first();
  assert.match(await entry.textContent(), /Assigned restricted \(enforce\) to namespace shop/);
  await entry.getByTestId('undo').click();
  await page.waitForURL(/\/settings\?applied=\d+/);
  assert.match(await page.getByTestId('notice').textContent(), /Undid change #\d+: namespace shop back to nothing/);
  const undone = page.getByTestId('audit').locator('tbody tr[data-action="assign"]').first();
  assert.match(await undone.textContent(), /cannot undo: already undone/);
  await page.screenshot({ path: join(shots, 'settings-audit.png'), fullPage: true });

  await page.goto(server.url + '/namespaces');
  assert.equal((await enforce.textContent()).trim(), was, 'the row is back to what it was');

  // The undone assignment's alerts resolve by themselves, the acknowledged one too.
  await page.goto(server.url + '/alerts?namespace=shop&mode=enforce&state=resolved');
  const resolved = page.getByTestId('alert-row').filter({ hasText: 'restricted:latest' });
  await resolved.nth(raised - 1).waitFor({ timeout: 20000 });
  assert.equal(await resolved.count(), raised);
  await page.goto(server.url + '/alerts?namespace=shop&mode=enforce&state=open,acknowledged');
  assert.equal(
    await page.getByTestId('alert-row').filter({ hasText: 'restricted:latest' }).count(),
    0,
    'no restricted alert stays open after the undo',
  );
  await page.close();
});
