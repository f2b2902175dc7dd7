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
  await expect(page.getByRole('status').filter({ hasText: 'Released +1 (510) 555-0100.' }))
    .toHaveText("Released +1 (510) 555-0100. It stays in Dial's history.");
  await expect(page.locator('tr[data-number="+15105550100"]')).toHaveCount(0);

  // It stays in the history: the Released tab lists it, and its page is read-only.
  await page.getByRole('navigation', { name: 'Active or released numbers' }).getByRole('link', { name: 'Released' }).click();
  await expect(page).toHaveURL(/\?released=only$/);
  await expect(page.getByText("Released +1 (510) 555-0100. It stays in Dial's history.")).toHaveCount(0);
  const released = page.locator('tr[data-number="+15105550100"]');
  await expect(released).toHaveClass(/row-released/);
  await expect(released).toContainText('Sales line');
  await released.getByRole('link').click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0100' })).toBeVisible();
  await expect(page.getByTestId('released-notice')).toContainText(/Released on \d{4}-\d\d-\d\d \d\d:\d\d UTC by admin\./);
  await expect(page.getByTestId('released-by')).toHaveText('admin');
  await expect(page.getByRole('button')).toHaveText([/Sign out/]);
  await expect(page.getByRole('textbox')).toHaveCount(0);
  await page.getByRole('link', { name: 'Calls with +1 (510) 555-0100' }).click();
  await expect(page).toHaveURL(/\/dashboard\/calls\?number=/);
  await expect(page.locator('#filter-number option:checked')).toHaveText('+1 (510) 555-0100 (released)');
});

test('deleting an assistant and signing out say what happened', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/assistants');
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Reception');
  await form.getByRole('textbox', { name: 'Agent name' }).fill('reception-agent');
  await form.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name: 'Reception' })).toBeVisible();
  await page.locator('details.confirm summary').click();
  await page.getByRole('button', { name: 'Delete Reception' }).click();
  await expect(page).toHaveURL(/\/dashboard\/assistants$/);
  await expect(page.getByRole('status').filter({ hasText: 'Deleted assistant' })).toHaveText('Deleted assistant Reception.');
  // Shown once: it does not come back on the next visit.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Assistants', exact: true })).toBeVisible();
  await expect(page.getByText('Deleted assistant Reception.')).toHaveCount(0);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1$/);
  await expect(page.getByRole('status').filter({ hasText: 'signed out' })).toHaveText('You are signed out.');
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

test('create a routing profile and link a number to it', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/settings/admin/telephony/routing-profiles');
  await expect(page.getByText('they do not change how calls are routed')).toBeVisible();
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create profile' }) });
  await form.getByRole('textbox', { name: 'Name' }).fill('US retail');
  await form.getByRole('textbox', { name: 'Plan code' }).fill('R-1');
  await form.getByRole('textbox', { name: 'Country' }).fill('UK');
  await form.getByRole('button', { name: 'Create profile' }).click();
  await expect(page.getByText('Use a two-letter ISO 3166 country code').first()).toBeVisible();
  // Without JavaScript the page reloads with the error and an empty form: type it all again.
  await form.getByRole('textbox', { name: 'Name' }).fill('US retail');
  await form.getByRole('textbox', { name: 'Plan code' }).fill('R-1');
  await form.getByRole('textbox', { name: 'Country' }).fill('US');
  await form.getByRole('button', { name: 'Create profile' }).click();
  await expect(page.locator('tr[data-profile="US retail"]')).toContainText('R-1');

  await page.goto('/dashboard/phone-numbers');
  await page.locator('tr[data-number="+12125550120"]').getByRole('link').click();
  // Hydrated, the form is filled only once the page is: a value typed into the
  // server-rendered form while the bundle is still starting can be lost (CI saw the
  // compliance text go missing once).
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  }
  await page.getByLabel('Routing profile', { exact: true }).selectOption({ label: 'US retail' });
  await page.getByLabel('Compliance state').fill('a2p_status: approved');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.locator('#field-routing_profile_id option:checked')).toHaveText('US retail');
  await expect(page.getByLabel('Compliance state')).toHaveValue(/a2p_status: approved/);
  await page.goto('/dashboard/phone-numbers');
  await expect(page.locator('tr[data-number="+12125550120"]')).toContainText('US retail');
});

test('add a carrier with TLS and a number bought elsewhere', async ({ page }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/settings/admin/telephony/carriers');
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Add carrier' }) });
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Telnyx');
  await form.getByLabel('Kind').selectOption('telnyx');
  await form.getByRole('textbox', { name: 'SIP address' }).fill('sip.telnyx.com');
  await form.getByLabel('Transport').selectOption('tls');
  await form.getByRole('textbox', { name: 'Auth username' }).fill('dial');
  await form.getByLabel('Auth password', { exact: true }).fill('carrier-secret-42');
  await form.getByRole('button', { name: 'Add carrier' }).click();
  const card = page.locator('section[data-carrier="Telnyx"]');
  await expect(card.getByTestId('carrier-transport')).toHaveText('TLS');
  await expect(card.locator('[data-field="carrier_password"]')).toHaveText('set · ends in ••42');
  expect(await page.content()).not.toContain('carrier-secret-42');

  await card.getByText('Add a number…').click();
  await card.getByRole('textbox', { name: 'Number', exact: true }).fill('(646) 555-0100');
  await card.getByLabel('Country (for national formats)').selectOption('US');
  await card.getByRole('textbox', { name: 'Label', exact: true }).fill('NYC');
  await card.getByRole('button', { name: 'Add number' }).click();
  await expect(page.locator('section[data-carrier="Telnyx"] dd').last()).toHaveText('1');

  await page.goto('/dashboard/phone-numbers');
  const row = page.locator('tr[data-number="+16465550100"]');
  await expect(row).toContainText('NYC');
  await expect(row).toContainText('Telnyx');
});

// Issue 18 §7 and §8: the Buy page in the words of each role, numbers formatted by their
// own country's rules, a hint that names only what was searched for, and an owner's
// number page without admin-only cards or requests.
test('the Buy page and a number page fit an owner', async ({ page }) => {
  const owner = { username: 'olivia', password: 'owner password 1' };
  await signInAsAdmin(page);
  await page.goto('/dashboard/settings/admin/users');
  await page.getByLabel('Username').fill(owner.username);
  await page.getByLabel('Initial password').fill(owner.password);
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page.locator(`tr[data-user="${owner.username}"]`)).toBeVisible();

  // Germany: nothing entered but the country, so nothing but the inventory is blamed.
  await page.goto('/dashboard/phone-numbers/buy');
  await page.getByLabel('Country').selectOption('DE');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByTestId('none-found')).toHaveText(
    "The sandbox's simulated Twilio account has no local numbers in Germany. It sells numbers in the United States (local, toll-free), Canada (local, toll-free) and the United Kingdom (local, toll-free, mobile).");

  // The admin is offered once as an owner, as "Me (admin)".
  await page.getByLabel('Country').selectOption('GB');
  await page.getByRole('button', { name: 'Search' }).click();
  const london = page.locator('tr[data-available="+442079460000"]');
  await expect(london.locator('td').first()).toHaveText('+44 20 7946 0000');
  await london.locator('summary').click();
  await expect(london.getByLabel('Owner').locator('option')).toHaveText(['Me (admin)', owner.username]);
  await expect(london).toContainText('This buys the number on your Twilio account');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Username').fill(owner.username);
  await page.getByLabel('Password').fill(owner.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/dashboard$/);

  // An owner's Buy and number pages ask for nothing only an admin may read.
  const adminOnly: string[] = [];
  page.on('response', (response) => {
    if (/\/api\/(numbers\/owners|routing-profiles\/list)/.test(response.url())) {
      adminOnly.push(`${response.status()} ${response.url()}`);
    }
  });
  await page.goto('/dashboard/phone-numbers');
  await page.getByRole('link', { name: 'Buy a number' }).first().click();
  await expect(page).toHaveURL(/\/dashboard\/phone-numbers\/buy$/);
  await page.getByLabel('Area code').fill('617');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator('tr[data-available="+16175550100"]');
  await row.locator('summary').click();
  await expect(row).toContainText("Dial buys the number for you on your organisation's Twilio account");
  await expect(page.locator('main')).not.toContainText('your Twilio account');
  await expect(row.getByLabel('Owner')).toHaveCount(0);

  await row.getByRole('button', { name: 'Buy +1 (617) 555-0100' }).click();
  await expect(page.getByRole('heading', { name: '+1 (617) 555-0100' })).toBeVisible();
  await expect(page.getByTestId('number-owner')).toHaveText(owner.username);
  await page.reload();
  await page.waitForLoadState('networkidle');
  await expect(page.getByRole('heading', { name: 'Label' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Routing profile and compliance' })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Owner', exact: true })).toHaveCount(0);
  expect(adminOnly).toEqual([]);
});
