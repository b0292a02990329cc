// Sign-in as an operator meets it: the open dashboard on loopback says so; the
// first admin added on Settings › Users turns sign-in on at once; signing in
// brings you back; the session cookie is out of reach of scripts; htmx changes
// carry the CSRF token; a viewer is refused changes with the reason; signing
// out ends the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const PASSWORD = 'correct horse battery staple';

async function signIn(page, name) {
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('first admin, sign-in, CSRF-carrying htmx, a refused viewer, sign-out', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.url + '/');
  await page.getByTestId('open-banner').waitFor();

  // The first user, from the open dashboard: sign-in is on from now.
  await page.goto(server.url + '/settings/users');
  const add = page.getByTestId('add-user');
  await add.getByLabel('Name', { exact: true }).fill('ada');
  await add.getByLabel('Role').selectOption('admin');
  await add.getByLabel(/Password/).fill(PASSWORD);
  await add.getByRole('button', { name: 'Add user' }).click();
  await page.waitForURL(/\/login\?next=%2Fsettings%2Fusers/);

  // A wrong password, then the right one: back on the Users page, signed in.
  await page.getByLabel('User name').fill('ada');
  await page.getByLabel('Password').fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByTestId('login-error').textContent(), /Wrong user name or password/);
  await signIn(page, 'ada');
  await page.waitForURL(/\/settings\/users$/);
  assert.match(await page.getByTestId('account').textContent(), /ada\s+\(admin\)/);
  assert.equal(await page.getByTestId('open-banner').count(), 0);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === '__Host-portcullis');
  assert.ok(session, `a session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.ok(session.httpOnly && session.secure && session.sameSite === 'Lax', JSON.stringify(session));
  assert.equal(await page.evaluate(() => document.cookie.includes('portcullis')), false, 'scripts cannot read it');

  // A viewer limited to shop.
  await add.getByLabel('Name', { exact: true }).fill('vera');
  await add.getByLabel('Role').selectOption('viewer');
  await add.getByLabel('Namespaces').fill('shop');
  await add.getByLabel(/Password/).fill(PASSWORD);
  await add.getByRole('button', { name: 'Add user' }).click();
  assert.match(await page.getByTestId('users-message').textContent(), /vera added as viewer/);

  // An htmx change (acknowledge on Alerts) goes through with the CSRF header.
  await page.goto(server.url + '/alerts');
  const assign = await page.evaluate(async () => {
    const r = await fetch('/api/v1/assignments', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ target: 'namespace/shop', profile: 'restricted', mode: 'warn' }) });
    return r.status;
  });
  assert.equal(assign, 403, 'a script on the page without the token is refused');
  await page.goto(server.url + '/assign?target=namespace/shop&profile=restricted&mode=warn');
  await page.getByRole('button', { name: /Apply/ }).click();
  await page.getByTestId('notice').waitFor();
  await page.goto(server.url + '/alerts');
  const ack = page.locator('button', { hasText: 'Acknowledge' }).first();
  await ack.waitFor();
  const before = await page.locator('button', { hasText: 'Acknowledge' }).count();
  await ack.click();
  await page.waitForFunction((n) => document.querySelectorAll('button').length > 0
    && [...document.querySelectorAll('button')].filter((b) => b.textContent.includes('Acknowledge')).length === n - 1, before);

  // Sign out, then in as the viewer: reading works, changing is refused with the reason.
  await page.getByTestId('sign-out').click();
  await page.waitForURL(/\/login$/);
  await page.goto(server.url + '/alerts');
  await page.waitForURL(/\/login\?next=%2Falerts/);
  await signIn(page, 'vera');
  await page.waitForURL(/\/alerts$/);
  assert.match(await page.getByTestId('account').textContent(), /vera\s+\(viewer, namespaces shop\)/);
  await page.goto(server.url + '/assign?target=namespace/shop&profile=baseline&mode=warn');
  const response = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: /Apply/ }).click(),
  ]).then(([r]) => r);
  assert.equal(response.status(), 403);
  assert.match(await page.locator('main').textContent(), /vera is a viewer; this needs an admin/);
  await context.close();
});
