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
