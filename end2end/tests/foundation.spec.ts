import { expect, test, type Page } from '@playwright/test';

// One story, in order, against a fresh Dial: the same steps run hydrated and with
// JavaScript disabled (every form must work before the WASM loads).
test.describe.configure({ mode: 'serial' });

const admin = { username: 'admin', password: 'correct horse battery' };
const owner = { username: 'olivia', password: 'owner password 1' };
const authToken = '0123456789abcdef0123456789abcd34';
const sipPassword = 'Plaintext5ecretSip';

async function expectHydratedIfJs(page: Page, javaScriptEnabled: boolean | undefined) {
  if (javaScriptEnabled) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  } else {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(0);
  }
}

async function signIn(page: Page, who: { username: string; password: string }) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('current-user')).toHaveText(who.username);
}

test('first run creates the administrator, once', async ({ page, javaScriptEnabled }) => {
  // The pages' Content-Security-Policy (a nonce per render, no inline script otherwise)
  // must not block anything the app needs: hydration below proves the scripts ran.
  const blocked: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) blocked.push(message.text());
  });
  await page.goto('/dashboard/calls');
  await expect(page).toHaveURL(/\/setup$/);
  await expectHydratedIfJs(page, javaScriptEnabled);
  await expect(page.getByRole('heading', { name: 'Welcome to Dial' })).toBeVisible();

  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password', { exact: true }).fill(admin.password);
  await page.getByLabel('Password again').fill('a different password');
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await expect(page.getByText('The two passwords do not match.').first()).toBeVisible();

  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password', { exact: true }).fill(admin.password);
  await page.getByLabel('Password again').fill(admin.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId('current-user')).toHaveText(admin.username);
  // A new Dial has things to set up: the overview points at the checklist.
  await expect(page.getByTestId('ops-summary').getByRole('link', { name: 'Setup checklist' })).toBeVisible();

  // The first-run page is gone for good.
  await page.goto('/setup');
  await expect(page).toHaveURL(/\/dashboard$/);
  expect(blocked).toEqual([]);
});

// Issue 17: browsers and crawlers ask for /favicon.ico whatever the page links; it is a
// real icon (16, 32 and 48 px, drawn from favicon.svg), not a page rendered as a 404.
test('the site has its icon at /favicon.ico and /favicon.svg', async ({ request }) => {
  const ico = await request.get('/favicon.ico');
  expect(ico.status()).toBe(200);
  expect(ico.headers()['content-type']).toMatch(/^image\/(x-icon|vnd\.microsoft\.icon)/);
  const bytes = await ico.body();
  expect([...bytes.subarray(0, 4)]).toEqual([0, 0, 1, 0]);
  expect(bytes.readUInt16LE(4)).toBe(3);
  const svg = await request.get('/favicon.svg');
  expect(svg.status()).toBe(200);
  expect(svg.headers()['content-type']).toContain('image/svg+xml');
});

test('sign-in refuses a wrong password and the sidebar reaches every section', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Wrong username or password.');

  await signIn(page, admin);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Phone numbers' }).click();
  await expect(page.getByRole('heading', { name: 'No phone numbers yet' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Phone numbers' })).toHaveAttribute('aria-current', 'page');
  await nav.getByRole('link', { name: 'Assistants' }).click();
  await expect(page.getByRole('heading', { name: 'No assistants yet' })).toBeVisible();
  await nav.getByRole('link', { name: 'Calls' }).click();
  await expect(page.getByRole('heading', { name: 'No calls yet' })).toBeVisible();
  await nav.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();
});

test('Twilio settings are validated, saved, and shown masked after a reload', async ({ page }) => {
  await signIn(page, admin);
  await page.goto('/dashboard/settings/admin/telephony/twilio');
  await expect(page.getByRole('heading', { name: 'Credentials and trunk' })).toBeVisible();

  await page.getByLabel('Account SID').fill('AC123');
  await page.getByLabel('SIP trunk address').fill('sip:dial.pstn.twilio.com');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Account SID must be "AC" followed by 32 hexadecimal characters').first()).toBeVisible();
  await expect(page.getByText('Enter the host name only, without "sip:"').first()).toBeVisible();

  await page.getByLabel('Account SID').fill('AC0123456789abcdef0123456789abcdef');
  await page.getByLabel('Auth Token').fill(authToken);
  await page.getByLabel('SIP trunk address').fill('dial-test.pstn.twilio.com');
  await page.getByLabel('SIP username').fill('dial');
  await page.getByLabel('SIP password').fill(sipPassword);
  await page.getByLabel('Public webhook base URL').fill('https://dial.example.com');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('[data-field="auth_token"]')).toHaveText('set · ends in ••34');

  await page.reload();
  await expect(page.locator('[data-field="auth_token"]')).toHaveText('set · ends in ••34');
  await expect(page.locator('[data-field="sip_password"]')).toHaveText('set · ends in ••ip');
  await expect(page.getByLabel('Account SID')).toHaveValue('AC0123456789abcdef0123456789abcdef');
  const html = await page.content();
  expect(html).not.toContain(authToken);
  expect(html).not.toContain(sipPassword);
  await expect(page.getByText('Replace').first()).toBeVisible();
});

// Issue 18 §8: "Twilio settings saved" appeared when nothing changed.
test('saving the Twilio settings unchanged says so', async ({ page, javaScriptEnabled }) => {
  await signIn(page, admin);
  await page.goto('/dashboard/settings/admin/telephony/twilio');
  await expectHydratedIfJs(page, javaScriptEnabled);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Nothing to save' }))
    .toHaveText('Nothing to save: the settings are as they were.');
  await expect(page.getByText('Twilio settings saved.')).toHaveCount(0);

  await page.getByLabel('SIP username').fill('dial-2');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Twilio settings saved.' })).toBeVisible();
  await expect(page.getByText('Nothing to save')).toHaveCount(0);
  await expect(page.getByLabel('SIP username')).toHaveValue('dial-2');
});

// Issue 14: the do-not-call list, added to by hand and from a CSV file with a bad row,
// and a number taken off it again after a confirmation.
test('the do-not-call list: add, import a CSV with a bad row, remove', async ({ page, javaScriptEnabled }) => {
  await signIn(page, admin);
  await page.goto('/dashboard/settings/admin/do-not-call');
  await expectHydratedIfJs(page, javaScriptEnabled);
  await expect(page.getByRole('heading', { name: 'The list is empty' })).toBeVisible();

  await page.getByLabel('Phone number').fill('(415) 555-0100');
  await page.getByLabel('Note (optional)').fill('asked by email');
  await page.getByRole('button', { name: 'Add to the list' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added +1 (415) 555-0100' }))
    .toHaveText('Added +1 (415) 555-0100 to the do-not-call list: no campaign will call it.');
  const added = page.locator('tr[data-dnc="+14155550100"]');
  await expect(added).toContainText('Added by admin');
  await expect(added).toContainText('asked by email');

  await page.getByLabel('CSV file').setInputFiles({
    name: 'opted-out.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('name;phone\nAda;+1 415 555 0101\nBob;nope\nCy;4155550100\n'),
  });
  await page.getByRole('button', { name: 'Import' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added 1 number' })).toContainText(
    'Added 1 number to the do-not-call list. 1 was already on it. 1 row was not added: line 3 (\u201cnope\u201d)');
  await expect(page.locator('tr[data-dnc="+14155550101"]')).toContainText('Imported by admin');

  await added.locator('summary').click();
  await added.getByRole('button', { name: 'Remove +1 (415) 555-0100' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Removed' }))
    .toHaveText('Removed +1 (415) 555-0100 from the do-not-call list: campaigns may call it again.');
  await expect(page.locator('tr[data-dnc="+14155550100"]')).toHaveCount(0);
  await expect(page.locator('tr[data-dnc="+14155550101"]')).toHaveCount(1);

  // A file without a phone column is refused whole, as an error.
  await page.getByLabel('CSV file').setInputFiles({
    name: 'wrong.csv', mimeType: 'text/csv', buffer: Buffer.from('name,email\nAda,ada@example.com\n'),
  });
  await page.getByRole('button', { name: 'Import' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'No phone column' })).toBeVisible();
});

test('an owner cannot open admin pages', async ({ page }) => {
  await signIn(page, admin);
  await page.goto('/dashboard/settings/admin/users');
  await page.getByLabel('Username').fill(owner.username);
  await page.getByLabel('Initial password').fill(owner.password);
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page.locator(`tr[data-user="${owner.username}"]`)).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);

  await signIn(page, owner);
  const response = await page.goto('/dashboard/settings/admin/users');
  expect(response?.status()).toBe(403);
  await expect(page.getByRole('heading', { name: 'Administrators only' })).toBeVisible();
  await page.goto('/dashboard/settings/admin/telephony/twilio');
  await expect(page.getByRole('heading', { name: 'Administrators only' })).toBeVisible();
  await page.goto('/dashboard/settings');
  await expect(page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Users' })).toHaveCount(0);
});

test('signing out ends the session', async ({ page }) => {
  await signIn(page, owner);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);
  await expect(page.getByText('You are signed out.')).toBeVisible();
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);
});

test('an administrator changes a role both ways, and an open session follows', async ({ page, browser, javaScriptEnabled, baseURL }) => {
  // Olivia is signed in elsewhere the whole time.
  const elsewhere = await browser.newContext({ baseURL, javaScriptEnabled });
  const olivia = await elsewhere.newPage();
  await signIn(olivia, owner);

  await signIn(page, admin);
  await page.goto('/dashboard/settings/admin/users');
  const mine = page.locator(`tr[data-user="${admin.username}"]`);
  const hers = page.locator(`tr[data-user="${owner.username}"]`);
  // The only administrator is never offered to step down.
  await expect(mine.getByTestId('role')).toHaveText('Administrator');
  await expect(mine.getByText('Make owner…')).toHaveCount(0);

  await hers.getByText('Make admin…').click();
  await hers.getByRole('button', { name: `Make ${owner.username} an administrator` }).click();
  await expect(hers.getByTestId('role')).toHaveText('Administrator');
  const herPage = await olivia.goto('/dashboard/settings/admin/users');
  expect(herPage?.status()).toBe(200);
  await expect(olivia.getByRole('heading', { name: 'Users', exact: true })).toBeVisible();

  // Two administrators now: either could step down; demoting asks first.
  await page.reload();
  await expect(mine.getByText('Make owner…')).toHaveCount(1);
  await hers.getByText('Make owner…').click();
  await expect(hers.getByText(`${owner.username} will manage only their own numbers`)).toBeVisible();
  await hers.getByRole('button', { name: `Make ${owner.username} an assistant owner` }).click();
  await expect(hers.getByTestId('role')).toHaveText('Assistant owner');
  await expect(mine.getByText('Make owner…')).toHaveCount(0);

  const refused = await olivia.goto('/dashboard/settings/admin/users');
  expect(refused?.status()).toBe(403);
  await expect(olivia.getByRole('heading', { name: 'Administrators only' })).toBeVisible();
  await elsewhere.close();
});

test('a user changes their own password and is signed out everywhere else', async ({ page, browser, javaScriptEnabled, baseURL }) => {
  const newPassword = 'a brand new owner password';
  const elsewhere = await browser.newContext({ baseURL, javaScriptEnabled });
  const phone = await elsewhere.newPage();
  await signIn(phone, owner);

  await signIn(page, owner);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
  const card = page.locator('section', { has: page.getByRole('heading', { name: 'Change password' }) });
  await expect(card).toBeVisible();
  await expectHydratedIfJs(page, javaScriptEnabled);

  await card.getByLabel('Current password').fill('not my password');
  await card.getByLabel('New password', { exact: true }).fill(newPassword);
  await card.getByLabel('New password again').fill(newPassword);
  await card.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('#field-current_password-error')).toHaveText('That is not your current password.');
  // Nothing changed: the phone is still signed in.
  await phone.reload();
  await expect(phone.getByTestId('current-user')).toHaveText(owner.username);

  await card.getByLabel('Current password').fill(owner.password);
  await card.getByLabel('New password', { exact: true }).fill('short');
  await card.getByLabel('New password again').fill('short');
  await card.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('#field-password-error')).toHaveText('Password must be at least 10 characters long.');

  await card.getByLabel('Current password').fill(owner.password);
  await card.getByLabel('New password', { exact: true }).fill(newPassword);
  await card.getByLabel('New password again').fill(newPassword);
  await card.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status')).toHaveText('Password changed. You were signed out everywhere else.');
  await expect(page).toHaveURL(/\/dashboard\/settings$/);
  // This browser stays signed in; the phone is signed out.
  await page.reload();
  await expect(page.getByTestId('current-user')).toHaveText(owner.username);
  await expect(page.getByRole('status')).toHaveCount(0);
  await phone.goto('/dashboard');
  await expect(phone).toHaveURL(/\/login\?next=%2Fdashboard$/);

  // Only the new password signs in.
  await phone.getByLabel('Username').fill(owner.username);
  await phone.getByLabel('Password').fill(owner.password);
  await phone.getByRole('button', { name: 'Sign in' }).click();
  await expect(phone.getByRole('alert')).toContainText('Wrong username or password.');
  await signIn(phone, { username: owner.username, password: newPassword });
  await elsewhere.close();
});

test('API keys: one New key action, and the new key with a Copy button that copies', async ({ page, context, javaScriptEnabled, baseURL }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await signIn(page, admin);
  await page.goto('/dashboard/settings/api-keys');
  await expect(page.getByRole('heading', { name: 'API keys', level: 1 })).toBeVisible();
  await expectHydratedIfJs(page, javaScriptEnabled);
  // One way to start a key: the header's link to the form (no second button in the list).
  await expect(page.getByRole('link', { name: 'New key' })).toHaveCount(1);
  await expect(page.getByRole('button', { name: 'New key' })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Create a key' })).toBeVisible();

  await page.getByLabel('Name').fill('Layout check');
  await page.getByRole('button', { name: 'Create key' }).click();
  const shown = page.getByTestId('new-api-key');
  await expect(shown).toBeVisible();
  const secret = (await shown.locator('[data-secret="api-key"]').textContent()) ?? '';
  expect(secret).toMatch(/^dial_/);
  await expect(shown).toContainText('Copy it now');
  const copy = shown.getByRole('button', { name: 'Copy' });
  if (javaScriptEnabled) {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
    await copy.click();
    await expect(shown.getByRole('button', { name: 'Copied' })).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    // The button says "Copy" again after a moment.
    await expect(copy).toBeVisible({ timeout: 5_000 });
  } else {
    // Without JavaScript there is no button; the key is selectable text.
    await expect(copy).toHaveCount(0);
  }
});
