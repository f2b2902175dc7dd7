import { expect, type Page } from '@playwright/test';

export const admin = { username: 'admin', password: 'correct horse battery' };

/** Signs in as the admin, creating it first if this Dial is new. */
export async function signInAsAdmin(page: Page) {
  await page.goto('/');
  if (page.url().endsWith('/setup')) {
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password', { exact: true }).fill(admin.password);
    await page.getByLabel('Password again').fill(admin.password);
    await page.getByRole('button', { name: 'Create administrator' }).click();
  } else {
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await expect(page).toHaveURL(/\/dashboard$/);
}
