import { expect, test } from '@playwright/test';
import { admin, signInAsAdmin } from './helpers';

// `dial serve --sandbox`: simulated Twilio and LiveKit, a banner on every page.
test.describe.configure({ mode: 'serial' });

const sandboxToken = '5a4db0c5a4db0c5a4db0c5a4db0c5a4d';

test('the banner is on every page and Test connection talks to the simulated Twilio', async ({ page }) => {
  await page.goto('/login');
  await expect(page.getByTestId('sandbox-banner')).toContainText('no real numbers or calls');
  await signInAsAdmin(page);
  await expect(page.getByTestId('sandbox-banner')).toBeVisible();

  await page.goto('/dashboard/settings/admin/telephony/twilio');
  await expect(page.getByTestId('sandbox-banner')).toBeVisible();
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByText('Connected to the Twilio account “Dial Sandbox” (active).')).toBeVisible();

  // A wrong token: Twilio's own error, in plain words, with its code.
  await page.locator('details.replace').first().locator('summary').click();
  await page.getByLabel('New Auth Token').fill('0123456789abcdef0123456789abcdef');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('[data-field="auth_token"]')).toHaveText('set · ends in ••ef');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByText('Twilio answered with error 20003: Authenticate').first()).toBeVisible();

  // Put the sandbox's own token back.
  await page.locator('details.replace').first().locator('summary').click();
  await page.getByLabel('New Auth Token').fill(sandboxToken);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByText('Connected to the Twilio account “Dial Sandbox” (active).').first()).toBeVisible();
});

test('the sandbox page simulates an inbound call and chooses how outbound calls end', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('Username').fill(admin.username);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await page.goto('/dashboard/settings');
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Sandbox' }).click();
  await expect(page.getByRole('heading', { name: 'Simulate an inbound call' })).toBeVisible();

  await page.getByLabel('Number called').fill('+1 415 555 0100');
  await page.getByRole('button', { name: 'Place inbound call' }).click();
  await expect(page.getByText('no inbound trunk accepts calls to +14155550100').first()).toBeVisible();

  await page.getByLabel('Outcome', { exact: true }).selectOption('busy');
  await page.getByRole('button', { name: 'Save outcome' }).click();
  await expect(page.getByTestId('default-outcome')).toHaveText('Busy (SIP 486)');
});

test('at 1280×800 every column shows, the banner adds no height, the sidebar reaches the bottom, runs are grouped', async ({ page, javaScriptEnabled }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await signInAsAdmin(page);

  // A short page is exactly the window's height, banner included.
  await page.goto('/dashboard/settings/admin/telephony/livekit');
  await expect(page.getByTestId('sandbox-banner')).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight)).toBe(true);
  const banner = await page.getByTestId('sandbox-banner').boundingBox();
  expect(banner?.y).toBe(0);

  // Tables: every header inside the card, none clipped, and the page never scrolls sideways.
  for (const [path, headers] of [
    ['/dashboard/phone-numbers', ['Number', 'Label', 'Country', 'Carrier', 'Owner', 'Assistant', 'Routing profile', 'Status', 'Created']],
    ['/dashboard/phone-numbers?released=only', ['Number', 'Label', 'Country', 'Carrier', 'Owner', 'Status', 'Released', 'Released by']],
    ['/dashboard/calls', ['Started', 'Direction', 'From', 'To', 'Assistant', 'Status', 'Duration', 'Outcome']],
  ] as const) {
    await page.goto(path);
    const table = page.locator('table.table').first();
    await expect(table).toBeVisible();
    if (path === '/dashboard/phone-numbers') {
      // Capabilities are under each number rather than in a column of their own.
      await expect(table.getByTestId('capabilities').first()).toContainText('Voice');
    }
    const card = page.locator('section.card', { has: table });
    const cardBox = await card.boundingBox();
    expect(cardBox).not.toBeNull();
    const ths = table.locator('thead th');
    await expect(ths).toHaveText(headers.map((h) => new RegExp(h, 'i')));
    for (const th of await ths.all()) {
      const box = await th.boundingBox();
      expect(box, await th.innerText()).not.toBeNull();
      if (!box || !cardBox) continue;
      expect(box.x, `${path}: ${await th.innerText()}`).toBeGreaterThanOrEqual(cardBox.x);
      expect(box.x + box.width, `${path}: ${await th.innerText()}`).toBeLessThanOrEqual(cardBox.x + cardBox.width);
      expect(box.y + box.height).toBeLessThanOrEqual(800 + (await page.evaluate(() => window.scrollY)));
      // The header's words fit its cell.
      expect(await th.evaluate((el) => el.scrollWidth <= el.clientWidth), `${path}: ${await th.innerText()}`).toBe(true);
    }
    expect(await table.evaluate((t) => (t.parentElement?.scrollWidth ?? 0) <= (t.parentElement?.clientWidth ?? 0)), path).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), path).toBe(true);
  }

  // The audit log: a provisioning run is one row, its steps folded beneath it.
  await page.goto('/dashboard/settings/admin/audit');
  const rows = page.locator('table.audit-table > tbody > tr');
  await expect(rows.first()).toBeVisible();
  await expect(page.locator('table.audit-table > tbody > tr[data-action^="provisioning.step"]')).toHaveCount(0);
  const run = page.locator('table.audit-table > tbody > tr[data-action="provisioning.run_done"]').first();
  await expect(run).toBeVisible();
  const steps = run.locator('details.audit-steps');
  await expect(steps.locator('li[data-action="provisioning.step"]').first()).toBeHidden();
  await steps.locator('summary').click();
  await expect(steps.locator('li[data-action="provisioning.run_started"]')).toHaveCount(1);
  await expect(steps.locator('li[data-action="provisioning.step"]').first()).toBeVisible();

  // A long page scrolled to its end: the sidebar still reaches the window's bottom.
  expect(await page.evaluate(() => document.documentElement.scrollHeight > window.innerHeight)).toBe(true);
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  // (Within a pixel: a page whose height is fractional scrolls to a whole pixel.)
  const sidebar = await page.locator('aside.sidebar').boundingBox();
  expect(Math.abs(sidebar?.y ?? 100)).toBeLessThan(1);
  expect((sidebar?.y ?? 0) + (sidebar?.height ?? 0)).toBeGreaterThan(799);
  expect(sidebar?.height).toBe(800);
});
