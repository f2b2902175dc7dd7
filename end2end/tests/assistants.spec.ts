import { expect, test } from '@playwright/test';
import { signInAsAdmin } from './helpers';

// Assistants and assignment against the sandbox's Twilio and LiveKit, hydrated and without
// JavaScript: create an assistant, give it a number, watch the provisioning steps finish,
// prove the inbound route with a simulated call, then unassign.
test.describe.configure({ mode: 'serial' });

test('create an assistant, assign a number, test its route, unassign', async ({ page }) => {
  await signInAsAdmin(page);

  // A number of our own (bought from the sandbox's inventory).
  await page.goto('/dashboard/phone-numbers/buy');
  await page.getByLabel('Area code').fill('510');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator('tr[data-available="+15105550105"]');
  await row.locator('summary').click();
  await row.getByRole('textbox', { name: 'Label' }).fill('Front desk line');
  await row.getByRole('button', { name: 'Buy +1 (510) 555-0105' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0105' })).toBeVisible();
  await expect(page.getByTestId('number-assistant')).toHaveText('No assistant');

  // An assistant, with a metadata mistake corrected on the way.
  await page.goto('/dashboard/assistants');
  await expect(page.getByRole('heading', { name: 'No assistants yet' })).toBeVisible();
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Front desk');
  await form.getByRole('textbox', { name: 'Agent name' }).fill('front-desk-agent');
  await form.getByRole('textbox', { name: 'Metadata' }).fill('{"language": "en",}');
  await form.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByText(/Metadata is not valid JSON/).first()).toBeVisible();
  await page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) })
    .getByRole('textbox', { name: 'Name', exact: true }).fill('Front desk');
  await page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) })
    .getByRole('textbox', { name: 'Agent name' }).fill('front-desk-agent');
  await page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) })
    .getByRole('textbox', { name: 'Metadata' }).fill('{"language": "en"}');
  await page.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name: 'Front desk' })).toBeVisible();

  // Assign from the assistant's page: the run's steps all finish.
  const assign = page.locator('section#assign');
  await assign.getByLabel('Number').selectOption({ label: '+1 (510) 555-0105 · Front desk line' });
  await assign.getByRole('button', { name: 'Assign number' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0105' })).toBeVisible();
  const run = page.locator('.run');
  await expect(run).toHaveAttribute('data-run-status', 'done');
  await expect(run.locator('li.step')).toHaveCount(7);
  await expect(run.locator('li.step.step-done')).toHaveCount(7);
  await expect(run.getByRole('heading', { name: 'Assign to Front desk' })).toBeVisible();
  await expect(page.getByTestId('number-assistant')).toHaveText('Front desk');

  // The inbound route, proven with a simulated call through the sandbox's LiveKit.
  await page.getByRole('button', { name: 'Test inbound route' }).click();
  const check = page.getByTestId('route-check');
  await expect(check).toContainText('Route test passed');
  await expect(check).toContainText('agent front-desk-agent was dispatched');

  // The assistant's page lists the number.
  await page.getByTestId('number-assistant').getByRole('link', { name: 'Front desk' }).click();
  await expect(page.locator('tr', { hasText: '+1 (510) 555-0105' })).toBeVisible();

  // Unassign, after a confirmation.
  await page.locator('tr', { hasText: '+1 (510) 555-0105' }).getByRole('link').first().click();
  await page.locator('details.confirm summary', { hasText: 'Unassign' }).click();
  await page.getByRole('button', { name: 'Unassign the number' }).click();
  await expect(page.getByTestId('number-assistant')).toHaveText('No assistant');
  await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');
  await expect(page.locator('.run').getByRole('heading', { name: 'Unassign' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Test inbound route' })).toHaveCount(0);
  // The earlier assignment is in the history.
  await expect(page.locator('.history')).toContainText('Assign to Front desk');
});

// Issue 18 §7: a name that differs from another of the owner's only by case (or spaces)
// is a duplicate, refused next to the Name field.
test('an assistant name differing only by case is refused', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/assistants');
  const form = () => page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await form().getByRole('textbox', { name: 'Name', exact: true }).fill('Night line');
  await form().getByRole('textbox', { name: 'Agent name' }).fill('night-agent');
  await form().getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name: 'Night line' })).toBeVisible();

  await page.goto('/dashboard/assistants');
  await form().getByRole('textbox', { name: 'Name', exact: true }).fill('  NIGHT LINE ');
  await form().getByRole('textbox', { name: 'Agent name' }).fill('night-agent');
  await form().getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.locator('.field-error').first()).toHaveText(
    'You already have an assistant called “Night line” (names that differ only in capitals count as the same). Choose another name.');
  await expect(page.getByRole('link', { name: /night line/i })).toHaveCount(1);
});
