import { expect, test } from '@playwright/test';
import { signInAsAdmin } from './helpers';

// Settings → Webhooks in the sandbox (which may post to loopback), hydrated and without
// JavaScript: an endpoint's signing secret is shown once, on creation and on rotation.
test.describe.configure({ mode: 'serial' });

test('add an endpoint, see its secret once, rotate it and delete the endpoint', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/settings');
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Webhooks' }).click();
  await expect(page).toHaveURL(/\/dashboard\/settings\/webhooks$/);
  // Other specs on this sandbox may have endpoints of their own (phone.spec.ts does).
  await expect(page.getByLabel('Address')).toBeVisible();

  const url = 'http://127.0.0.1:9/dial-hooks';
  await page.getByLabel('Address').fill(url);
  await page.getByLabel('Description (optional)').fill('CRM');
  await page.getByLabel(/^call\.started/).check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();

  const banner = page.getByTestId('new-webhook-secret');
  await expect(banner).toContainText(url);
  const secret = (await banner.locator('[data-secret="webhook-secret"]').textContent()) ?? '';
  expect(secret).toMatch(/^whsec_[A-Za-z0-9]{40}$/);
  const row = page.locator(`tr[data-endpoint="${url}"]`);
  await expect(row).toContainText('call.started, call.ended');
  await expect(row).toContainText('Enabled');

  // Shown once: not after a reload, nor on the endpoint's page.
  await page.reload();
  await expect(page.getByTestId('new-webhook-secret')).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);
  await page.locator(`tr[data-endpoint="${url}"]`).getByRole('link').click();
  await expect(page.getByRole('heading', { name: url })).toBeVisible();
  expect(await page.content()).not.toContain(secret);
  await expect(page.getByRole('heading', { name: 'No deliveries here' })).toBeVisible();

  // Rotate: a new secret, shown once.
  await page.getByText('Rotate secret…').click();
  await page.getByRole('button', { name: 'Rotate the secret' }).click();
  const rotated = page.getByTestId('new-webhook-secret');
  await expect(rotated).toContainText('New secret for');
  const second = (await rotated.locator('[data-secret="webhook-secret"]').textContent()) ?? '';
  expect(second).toMatch(/^whsec_[A-Za-z0-9]{40}$/);
  expect(second).not.toEqual(secret);
  await page.reload();
  await expect(page.getByTestId('new-webhook-secret')).toHaveCount(0);

  // Disable, then delete after the confirmation.
  await page.getByRole('button', { name: 'Disable' }).click();
  await expect(page.locator('.facts')).toContainText('Disabled');
  await page.getByText('Delete endpoint…').click();
  await page.getByRole('button', { name: 'Delete this endpoint' }).click();
  await expect(page).toHaveURL(/\/dashboard\/settings\/webhooks$/);
  await expect(page.getByRole('status').filter({ hasText: 'Deleted the webhook endpoint' })).toBeVisible();
  await expect(page.locator(`tr[data-endpoint="${url}"]`)).toHaveCount(0);
});
