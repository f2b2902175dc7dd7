import { expect, test } from '@playwright/test';
import { signInAsAdmin } from './helpers';

// Phone numbers against the sandbox's simulated Twilio, hydrated and without JavaScript.
test.describe.configure({ mode: 'serial' });

test('search, buy, label and release a number', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/phone-numbers');
  await page.getByRole('link', { name: 'Buy a number' }).first().click();
  await expect(page).toHaveURL(/\/dashboard\/phone-numbers\/buy$/);
  await page.getByLabel('Area code').fill('510');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator('tr[data-available="+15105550100"]');
  await expect(row).toContainText('Oakland, CA, US');
  await row.locator('summary').click();
  await row.getByRole('textbox', { name: 'Label' }).fill('Support line');
  await row.getByRole('button', { name: 'Buy +1 (510) 555-0100' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0100' })).toBeVisible();
  await expect(page.getByTestId('number-owner')).toHaveText('admin');

  await page.getByRole('link', { name: 'Back to numbers' }).click();
  const listed = page.locator('tr[data-number="+15105550100"]');
  await expect(listed).toContainText('Support line');
  await listed.getByRole('link').click();

  await page.getByRole('textbox', { name: 'Label' }).fill('Sales line');
  await page.getByRole('button', { name: 'Save label' }).click();
  await expect(page.getByRole('textbox', { name: 'Label' })).toHaveValue('Sales line');
  await expect(page.locator('.page-header .subtitle')).toHaveText('Sales line');

  await page.locator('details.confirm summary').click();
  await page.getByRole('button', { name: 'Release +1 (510) 555-0100' }).click();
  await expect(page).toHaveURL(/\/dashboard\/phone-numbers$/);
  await expect(page.locator('tr[data-number="+15105550100"]')).toHaveCount(0);
});

test('import the numbers the Twilio account already has', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/phone-numbers');
  await page.getByRole('link', { name: 'Import from Twilio' }).click();
  await expect(page.locator('tr[data-candidate="+12125550120"]')).toBeVisible();
  await page.getByRole('button', { name: 'Import +1 (212) 555-0120' }).click();
  await expect(page.locator('tr[data-candidate="+12125550120"]')).toHaveCount(0);
  await page.getByRole('button', { name: 'Import all 1' }).click();
  await expect(page.getByRole('heading', { name: 'Everything is imported' })).toBeVisible();
  await page.goto('/dashboard/phone-numbers');
  await expect(page.locator('tr[data-number="+12125550120"]')).toBeVisible();
  await expect(page.locator('tr[data-number="+12125550121"]')).toBeVisible();
});
