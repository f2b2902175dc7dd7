import { expect, test } from '@playwright/test';
import { signInAsAdmin } from './helpers';

// The setup checklist and drift, in the sandbox, hydrated and without JavaScript: a
// number's route is changed behind Dial's back (the sandbox page does what someone in
// LiveKit's console would), the route test fails and the checklist turns red, the drift
// page finds the change in words and repairs it, and the checklist is green for it again.
test.describe.configure({ mode: 'serial' });

const number = '+12065550100';
const shown = '+1 (206) 555-0100';

test('a red checklist item is fixed by repairing the drift it points to', async ({ page }) => {
  await signInAsAdmin(page);

  // A number of our own, assigned to an assistant.
  await page.goto('/dashboard/phone-numbers/buy');
  await page.getByLabel('Area code').fill('206');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator(`tr[data-available="${number}"]`);
  await row.locator('summary').click();
  await row.getByRole('button', { name: `Buy ${shown}` }).click();
  await expect(page.getByRole('heading', { name: shown })).toBeVisible();
  const numberPage = page.url();
  await page.goto('/dashboard/assistants');
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Ops desk');
  await form.getByRole('textbox', { name: 'Agent name' }).fill('ops-agent');
  await form.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name: 'Ops desk' })).toBeVisible();
  const assign = page.locator('section#assign');
  await assign.getByLabel('Number').selectOption({ label: shown });
  await assign.getByRole('button', { name: 'Assign number' }).click();
  await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');

  // Someone changes the number's dispatch rule in LiveKit.
  await page.goto('/dashboard/settings/admin/sandbox');
  const js = test.info().project.use.javaScriptEnabled !== false;
  if (js) await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const tamper = page.locator('section#tamper-section');
  await tamper.getByLabel('Number').fill(number);
  await tamper.getByRole('button', { name: 'Change its dispatch rule' }).click();
  if (js) {
    await expect(page.getByTestId('tamper-result')).toContainText('now dispatches agent someone-elses-agent');
  } else {
    await expect(page).toHaveURL(/\/dashboard\/settings\/admin\/sandbox/);
  }

  // The route test fails, and the checklist says so in red.
  await page.goto(numberPage);
  await page.getByRole('button', { name: 'Test inbound route' }).click();
  await expect(page.getByTestId('route-check')).toContainText('did not reach Ops desk');
  await page.goto('/dashboard');
  await page.getByTestId('ops-summary').getByRole('link', { name: 'Setup checklist' }).click();
  await expect(page).toHaveURL(/\/dashboard\/setup$/);
  await page.getByRole('button', { name: 'Check again' }).click();
  const routes = page.locator('li[data-item="calls.route_tests"]');
  await expect(routes).toHaveAttribute('data-light', 'red');
  await expect(routes).toContainText(`failed for ${shown}`);
  await expect(page.locator('li[data-item="livekit.api"]')).toHaveAttribute('data-light', 'green');

  // The red item's link opens the number; the drift page names the change in words, the
  // number's page then carries the drift badge, and the repair re-runs the assignment.
  await routes.getByRole('link', { name: `Open ${shown}` }).click();
  await expect(page.getByRole('heading', { name: shown })).toBeVisible();
  await page.goto('/dashboard/drift');
  await page.getByRole('button', { name: 'Scan now' }).click();
  const finding = page.locator('li.drift-item[data-kind="rule_changed"]', { hasText: shown });
  await expect(finding).toContainText('now dispatches agent `someone-elses-agent`, the assistant says `ops-agent`');
  await page.goto(numberPage);
  await expect(page.getByTestId('number-drift')).toContainText('Drift: dispatch rule changed');
  await page.getByTestId('number-drift').getByRole('link', { name: 'Repair it on the drift page' }).click();
  await expect(page).toHaveURL(/\/dashboard\/drift$/);
  await page.locator('li.drift-item[data-kind="rule_changed"]', { hasText: shown })
    .getByRole('button', { name: 'Re-run the assignment' }).click();
  await expect(page.getByRole('status').filter({ hasText: `The assignment of ${shown} was run again and finished.` })).toBeVisible();
  await expect(page.locator('li.drift-item[data-kind="rule_changed"]', { hasText: shown })).toHaveCount(0);

  // The number's page has no drift badge, its route test passes, and the checklist's
  // red item is gone.
  await page.goto(numberPage);
  await expect(page.getByTestId('number-drift')).toHaveCount(0);
  await page.getByRole('button', { name: 'Test inbound route' }).click();
  await expect(page.getByTestId('route-check')).toContainText('Route test passed');
  await page.goto('/dashboard/setup');
  await page.getByRole('button', { name: 'Check again' }).click();
  await expect(page.locator('li[data-item="calls.route_tests"]')).not.toContainText(shown);
});
