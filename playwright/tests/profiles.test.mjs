// An operator brings an old PodSecurityPolicy: imports it through the form
// (a typo first, then the fixed policy), sees its verdict on a demo workload
// next to the presets, the fixes, and what its defaults would change.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser } from './harness.mjs';

const shots = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
let server;
let browser;

const PSP = `apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata:
  name: web-defaults
  annotations:
    seccomp.security.alpha.kubernetes.io/allowedProfileNames: runtime/default,docker/default
    seccomp.security.alpha.kubernetes.io/defaultProfileName: runtime/default
spec:
  privileged: false
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  requiredDropCapabilities: [ALL]
  volumes: [configMap, secret, emptyDir, projected, downwardAPI, persistentVolumeClaim, csi, ephemeral]
  runAsUser: {rule: MustRunAsNonRoot}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
`;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the profiles page compares the presets over the 16 controls', async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  await page.goto(server.url + '/');
  await page.getByRole('link', { name: 'Profiles', exact: true }).click();
  await page.waitForURL(/\/profiles$/);
  assert.equal(await page.title(), 'Profiles · Portcullis');
  for (const name of ['strict', 'restricted', 'baseline', 'node-agent', 'privileged']) {
    assert.equal(await page.locator(`thead th[data-profile="${name}"]`).count(), 1, name);
  }
  assert.equal(await page.locator('table.profiles tbody tr[data-control]').count(), 16);
  const admits = await page.locator('td[data-profile="privileged"][data-testid="admits"]').textContent();
  assert.match(admits, /45 of 45 workloads/);
  await page.close();
});

test('import a PodSecurityPolicy, see its verdict and the mutation preview on a seed workload', async () => {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  await page.goto(server.url + '/profiles');

  // A typo: the error names the document, the policy and the field, at the form.
  await page.fill('#import-yaml', PSP.replace('rule: MustRunAsNonRoot', 'rule: MustRunAsNobody'));
  await page.click('#import-form button[type="submit"]');
  const errors = page.getByTestId('import-errors');
  await errors.waitFor();
  assert.match(await errors.textContent(), /\(document 1\) policy "web-defaults": spec\.runAsUser\.rule/);
  assert.match(page.url(), /\/profiles$/, 'nothing imported, still on the page');
  assert.match(await page.inputValue('#import-yaml'), /MustRunAsNobody/, 'the text is kept for correction');

  // The fixed policy imports and shows up next to the presets.
  await page.fill('#import-yaml', PSP);
  await Promise.all([
    page.waitForURL(/imported=web-defaults/),
    page.click('#import-form button[type="submit"]'),
  ]);
  assert.match(await page.getByTestId('notice').textContent(), /Imported: web-defaults/);
  const column = page.locator('thead th[data-profile="web-defaults"]');
  assert.match(await column.textContent(), /custom/);
  const admits = await page.locator('td[data-profile="web-defaults"][data-testid="admits"]').textContent();
  assert.match(admits, /\d+ of 45 workloads/);
  await page.screenshot({ path: join(shots, 'profiles.png'), fullPage: true });

  // A seed workload: catalog runs with default settings, so the policy admits
  // it only by filling in its defaults.
  await page.goto(server.url + '/namespaces/shop/workloads/Deployment/catalog');
  const verdict = page.locator('li[data-profile="web-defaults"]');
  assert.match(await verdict.textContent(), /allowed after changes/);
  assert.match(await page.locator('li[data-profile="restricted"]').textContent(), /rejected/);
  assert.match(await page.getByTestId('recommendation').textContent(), /Baseline/);

  // Every restricted violation comes with a fix.
  const restricted = page.locator('li[data-profile="restricted"]');
  const checks = await restricted.locator('li[data-check]').count();
  assert.ok(checks >= 3, `restricted violations: ${checks}`);
  assert.equal(await restricted.locator('[data-testid="fix"]').count(), checks);
  const fix = restricted.locator('[data-testid="fix"]').first();
  await fix.locator('summary').click();
  assert.match(await fix.locator('pre').textContent(), /^spec:\n  template:\n    spec:\n/);

  // The mutation preview: before/after of the container's settings, the
  // verdict on the mutated pod, and the JSON patch.
  await verdict.getByRole('link', { name: 'see what it would change' }).click();
  await page.waitForURL(/#preview-web-defaults/);
  const preview = page.locator('section.preview[data-profile="web-defaults"]');
  assert.match(await preview.getByTestId('after').textContent(), /allowed after these changes/);
  const rootfs = preview.locator('tr[data-control="read-only-root-fs"]').first();
  assert.match(await rootfs.locator('td.before').textContent(), /writable/);
  assert.match(await rootfs.locator('td.after').textContent(), /read-only/);
  assert.ok(await preview.locator('tr[data-control="privilege-escalation"]').count() >= 1);
  await preview.locator('summary').click();
  const patch = JSON.parse(await preview.getByTestId('patch').textContent());
  assert.ok(patch.some((op) => op.path.startsWith('/spec/template/spec/containers/')), JSON.stringify(patch));
  await preview.screenshot({ path: join(shots, 'mutation-preview.png') });
  await page.close();
});

test('presets can be copied but not edited', async () => {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  await page.goto(server.url + '/profiles/strict');
  assert.equal(await page.getByRole('link', { name: 'Edit' }).count(), 0);
  await page.getByRole('link', { name: 'Copy' }).click();
  await page.waitForURL(/\/profiles\/new\?copy=strict/);
  assert.equal(await page.inputValue('#profile-name'), 'strict-copy');
  await page.fill('#profile-name', 'team-strict');
  await Promise.all([page.waitForURL(/\/profiles\/team-strict$/), page.click('#profile-form button[type="submit"]')]);
  assert.match(await page.locator('h1').textContent(), /team-strict/);
  assert.equal(await page.getByRole('link', { name: 'Edit' }).count(), 1);
  await page.close();
});
