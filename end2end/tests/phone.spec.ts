import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { signInAsAdmin } from './helpers';

// Every page on a phone (390 and 320 px wide), hydrated and without JavaScript: none is
// wider than the screen (tables scroll inside their card), and axe-core finds nothing
// serious or critical. The pages with data (a number, an assistant, a call, a campaign,
// an upload's preview, a webhook endpoint) are made first from the sandbox.
test.describe.configure({ mode: 'default' });

const PHONE = { width: 390, height: 844 };
const NARROW = { width: 320, height: 640 };

// The app's routes (app/src/app.rs), the ones with an id filled in below.
const STATIC_PAGES = [
  '/dashboard',
  '/dashboard/phone-numbers',
  '/dashboard/phone-numbers?released=only',
  '/dashboard/phone-numbers/buy',
  '/dashboard/phone-numbers/buy?area_code=312',
  '/dashboard/phone-numbers/import',
  '/dashboard/assistants',
  '/dashboard/calls',
  '/dashboard/calls/browser',
  '/dashboard/campaigns',
  '/dashboard/campaigns/new',
  '/dashboard/setup',
  '/dashboard/drift',
  '/dashboard/settings',
  '/dashboard/settings/api-keys',
  '/dashboard/settings/webhooks',
  '/dashboard/settings/admin/users',
  '/dashboard/settings/admin/telephony/twilio',
  '/dashboard/settings/admin/telephony/livekit',
  '/dashboard/settings/admin/telephony/routing-profiles',
  '/dashboard/settings/admin/telephony/carriers',
  '/dashboard/settings/admin/do-not-call',
  '/dashboard/settings/admin/audit',
  '/dashboard/settings/admin/sandbox',
];

const pages: string[] = [];

async function widthOf(page: Page) {
  return page.evaluate(() => ({
    document: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    viewport: window.innerWidth,
  }));
}

/** The page fits the screen: nothing scrolls the window sideways. */
async function expectFits(page: Page, url: string) {
  const width = await widthOf(page);
  expect.soft(width.document, `${url} is ${width.document} px wide on a ${width.viewport} px screen`).toBeLessThanOrEqual(width.viewport);
  expect.soft(width.body, `${url}'s body is ${width.body} px wide`).toBeLessThanOrEqual(width.viewport);
}

async function visit(page: Page, url: string) {
  const response = await page.goto(url);
  expect(response?.status(), url).toBeLessThan(400);
  if (test.info().project.use.javaScriptEnabled !== false) {
    // Hydrated: the page's data has arrived (no loading indicator left).
    await expect(page.locator('.loading')).toHaveCount(0);
  }
}

test('the pages with data exist (a number, an assistant, a call, a campaign, an upload, an endpoint)', async ({ page }) => {
  test.setTimeout(90_000);
  await signInAsAdmin(page);

  // A number, assigned to an assistant.
  await page.goto('/dashboard/phone-numbers/buy');
  await page.getByLabel('Area code').fill('312');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator('tr[data-available="+13125550103"]');
  await row.locator('summary').click();
  await row.getByRole('textbox', { name: 'Label' }).fill('Phone check line');
  await row.getByRole('button', { name: 'Buy +1 (312) 555-0103' }).click();
  await expect(page.getByRole('heading', { name: '+1 (312) 555-0103' })).toBeVisible();
  pages.push(new URL(page.url()).pathname);
  await page.goto('/dashboard/assistants');
  const create = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await create.getByRole('textbox', { name: 'Name', exact: true }).fill('Phone check desk');
  await create.getByRole('textbox', { name: 'Agent name' }).fill('phone-check-agent');
  await create.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name: 'Phone check desk' })).toBeVisible();
  pages.push(new URL(page.url()).pathname);
  const assign = page.locator('section#assign');
  await assign.getByLabel('Number').selectOption({ label: '+1 (312) 555-0103 · Phone check line' });
  await assign.getByRole('button', { name: 'Assign number' }).click();
  await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');

  // A call from it.
  await page.goto('/dashboard/calls');
  const place = page.locator('section#place-call');
  await place.getByLabel('From number').selectOption({ label: '+1 (312) 555-0103 · Phone check desk' });
  await place.getByLabel('Destination').fill('+14155550100');
  await place.getByRole('button', { name: 'Call', exact: true }).click();
  await expect(page).toHaveURL(/\/dashboard\/calls\/[^/?#]+$/);
  pages.push(new URL(page.url()).pathname);

  // A campaign, and an upload's preview.
  await page.goto('/dashboard/campaigns/new');
  await page.getByLabel('Name').fill('Phone check');
  await page.getByLabel('Assistant').selectOption({ label: 'Phone check desk' });
  await page.getByLabel('+1 (312) 555-0103 · Phone check desk').check();
  await page.getByLabel('Time zone', { exact: true }).fill('UTC');
  await page.getByRole('button', { name: 'Create draft' }).click();
  await expect(page.getByRole('heading', { name: 'Phone check' })).toBeVisible();
  pages.push(new URL(page.url()).pathname);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dial-csv-')), 'contacts.csv');
  fs.writeFileSync(file, 'name,phone\r\nAda,+1 415 555 0301\r\nBo,12345\r\n');
  await page.locator('#c-file').setInputFiles(file);
  await page.getByRole('button', { name: 'Upload and preview' }).click();
  await expect(page.getByRole('heading', { name: 'Contacts preview' })).toBeVisible();
  pages.push(new URL(page.url()).pathname);
  await page.getByRole('button', { name: 'Import 1 contact' }).click();
  await expect(page.getByTestId('contacts')).toBeVisible();

  // A webhook endpoint.
  await page.goto('/dashboard/settings/webhooks');
  const url = `https://example.com/phone-check-${test.info().project.name}`;
  await page.getByLabel('Address').fill(url);
  await page.getByLabel(/^call\.started/).check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.goto('/dashboard/settings/webhooks');
  await page.locator(`tr[data-endpoint="${url}"]`).getByRole('link').click();
  await expect(page.getByRole('heading', { name: url })).toBeVisible();
  pages.push(new URL(page.url()).pathname);
});

for (const viewport of [PHONE, NARROW]) {
  test(`no page is wider than a ${viewport.width} px screen`, async ({ page }) => {
    test.setTimeout(120_000);
    await page.setViewportSize(viewport);
    await visit(page, '/login');
    await expectFits(page, '/login');
    await signInAsAdmin(page);
    for (const url of [...STATIC_PAGES, ...pages]) {
      await visit(page, url);
      await expectFits(page, url);
    }
  });
}

test('axe-core finds nothing serious or critical on any page (on a phone)', async ({ browser }) => {
  test.setTimeout(180_000);
  // axe-core runs as a script in the page. Without JavaScript, the page is audited as such
  // a browser shows it: JavaScript is on for axe alone, and Dial's own scripts (the
  // hydration bundle under /pkg) are refused, so what is checked is the server-rendered
  // HTML and its forms.
  const noJs = test.info().project.use.javaScriptEnabled === false;
  const newPage = async () => {
    const context = await browser.newContext({
      viewport: PHONE,
      baseURL: test.info().project.use.baseURL,
      javaScriptEnabled: true,
    });
    if (noJs) await context.route(/\/pkg\/.*\.(js|wasm)(\?.*)?$/, (route) => route.abort());
    return context.newPage();
  };
  const check = async (target: Page, url: string) => {
    if (noJs) expect(await target.locator('body[data-hydrated="true"]').count(), `${url} hydrated`).toBe(0);
    const results = await new AxeBuilder({ page: target }).analyze();
    const bad = results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect.soft(bad, url).toEqual([]);
  };
  // Signed out.
  const signedOut = await newPage();
  await signedOut.goto('/login');
  await check(signedOut, '/login');
  await signedOut.context().close();
  const page = await newPage();
  await signInAsAdmin(page);
  for (const url of [...STATIC_PAGES, ...pages]) {
    await visit(page, url);
    await check(page, url);
  }
  await page.context().close();
});
