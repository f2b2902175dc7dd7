import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { signInAsAdmin } from './helpers';

// A campaign in the sandbox, hydrated and without JavaScript: upload a CSV with a bad
// row, see it in the preview, import the rest, start, pause and resume, watch it reach
// completion, and export the results.
test.describe.configure({ mode: 'serial' });

test('a campaign calls its list from upload to results', async ({ page }) => {
  test.setTimeout(90_000);
  await signInAsAdmin(page);

  // Callees answer and hang up after a second.
  await page.goto('/dashboard/settings/admin/sandbox');
  const mix = page.locator('section[aria-labelledby="outcome-mix"]');
  await mix.getByLabel('Answered (%)').fill('100');
  await mix.getByRole('button', { name: 'Save mix' }).click();
  await expect(page.getByText('Answered 100 %').first()).toBeVisible();
  const length = page.locator('section[aria-labelledby="call-length"]');
  await length.getByLabel('Shortest (seconds)').fill('1');
  await length.getByRole('button', { name: 'Save call length' }).click();

  // A number of our own, assigned to an assistant.
  await page.goto('/dashboard/phone-numbers/buy');
  await page.getByLabel('Area code').fill('510');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator('tr[data-available="+15105550113"]');
  await row.locator('summary').click();
  await row.getByRole('textbox', { name: 'Label' }).fill('Campaign line');
  await row.getByRole('button', { name: 'Buy +1 (510) 555-0113' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0113' })).toBeVisible();
  await page.goto('/dashboard/assistants');
  const create = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await create.getByRole('textbox', { name: 'Name', exact: true }).fill('Campaign desk');
  await create.getByRole('textbox', { name: 'Agent name' }).fill('campaign-agent');
  await create.getByRole('button', { name: 'Create assistant' }).click();
  const assign = page.locator('section#assign');
  await assign.getByLabel('Number').selectOption({ label: '+1 (510) 555-0113 · Campaign line' });
  await assign.getByRole('button', { name: 'Assign number' }).click();
  await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');

  // The campaign: any day, any hour (UTC).
  await page.goto('/dashboard/campaigns');
  await page.getByRole('link', { name: 'New campaign' }).click();
  await page.getByLabel('Name').fill('Reminders');
  await page.getByLabel('Assistant').selectOption({ label: 'Campaign desk' });
  await page.getByLabel('+1 (510) 555-0113 · Campaign desk').check();
  await page.getByLabel('Time zone', { exact: true }).fill('UTC');
  for (const day of ['Sat', 'Sun']) {
    await page.getByLabel(day, { exact: true }).check();
  }
  await page.getByLabel('Calling window from').fill('00:00');
  await page.getByLabel('until').fill('23:59');
  await page.getByLabel('Never before (callee\'s time)').fill('00:00');
  await page.getByLabel('Never from (callee\'s time)').fill('23:59');
  await page.getByRole('button', { name: 'Create draft' }).click();
  await expect(page.getByRole('heading', { name: 'Reminders' })).toBeVisible();
  await expect(page.locator('[data-state="draft"]')).toBeVisible();
  const campaignUrl = new URL(page.url()).pathname;

  // The page reads the campaign again every 3 s. That must not swap the page for a
  // loading state: nothing flashes, the tab keeps its title, and the field being typed in
  // keeps its focus.
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await page.evaluate(() => {
      const seen = ((window as unknown as { dialFlashes: string[] }).dialFlashes = []);
      new MutationObserver(() => {
        if (document.querySelector('main .loading')) seen.push('a loading state');
        if (document.title !== 'Reminders · Dial') seen.push(`the title "${document.title}"`);
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    const country = page.locator('#field-upload-country');
    await country.focus();
    for (let read = 0; read < 2; read++) {
      await page.waitForResponse((r) => r.url().includes('/api/campaigns/get') && r.ok());
    }
    await page.waitForTimeout(200);
    expect(await page.evaluate(() => (window as unknown as { dialFlashes: string[] }).dialFlashes)).toEqual([]);
    await expect(country).toBeFocused();
    await expect(page).toHaveTitle('Reminders · Dial');
  }

  // Upload: one row is bad; the preview says which and why; nothing is imported yet.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dial-csv-')), 'contacts.csv');
  fs.writeFileSync(file, 'name;phone;appointment\r\nAda;+1 415 555 0301;Tuesday\r\nBo;12345;Wednesday\r\nCy;(415) 555-0302;"Thursday,\nmorning"\r\nDee;+14155550303;Friday\r\n');
  await page.locator('#c-file').setInputFiles(file);
  await page.getByRole('button', { name: 'Upload and preview' }).click();
  await expect(page.getByRole('heading', { name: 'Contacts preview' })).toBeVisible();
  await expect(page.locator('[data-stat="good"] dd')).toHaveText('3');
  await expect(page.locator('[data-stat="bad"] dd')).toHaveText('1');
  const problems = page.getByTestId('problems');
  await expect(problems).toContainText('12345');
  await expect(problems.locator('tbody tr').first().locator('td').first()).toHaveText('3');
  await page.getByRole('button', { name: 'Import 3 contacts' }).click();
  await expect(page.getByText('Imported 3 contacts; 1 rows were left out.')).toBeVisible();
  await expect(page.getByTestId('contacts').locator('tbody tr')).toHaveCount(3);
  await expect(page.getByTestId('preflight')).toContainText('3 of 3 contacts will be called.');

  // Start, pause at once, resume.
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('[data-state="running"]')).toBeVisible();
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.locator('[data-state="paused"]')).toBeVisible();
  await expect(page.getByTestId('campaign-status')).toContainText('Paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.locator('[data-state="running"]')).toBeVisible();

  // The campaign reaches completion (with JavaScript the page follows it; without, a reload shows it).
  await expect(async () => {
    if (test.info().project.use.javaScriptEnabled === false) {
      await page.goto(campaignUrl);
    }
    await expect(page.locator('[data-state="completed"]')).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 45_000 });
  await page.goto(campaignUrl);
  await expect(page.locator('[data-stat="Answered"] dd')).toHaveText('3');
  // A campaign that is over changes no more: its page stops reading it every 3 s (once the
  // live stream has connected and caught up).
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await page.waitForTimeout(1_500);
    let reads = 0;
    page.on('request', (r) => {
      if (r.url().includes('/api/campaigns/get')) reads += 1;
    });
    await page.waitForTimeout(6_500);
    expect(reads, 'reads of a completed campaign').toBe(0);
  }
  await expect(page.locator('li[data-outcome="completed"]')).toContainText('3');
  await expect(page.getByTestId('campaign-chart').locator('svg')).toBeVisible();
  const rows = page.getByTestId('contacts').locator('tbody tr');
  await expect(rows.first()).toContainText('Answered');

  // Export the results.
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Export results (CSV)' }).click();
  const csv = fs.readFileSync(await (await download).path() ?? '', 'utf8');
  expect(csv.split('\n')[0]).toBe('line,phone,name,state,attempts,result,last_outcome,last_sip_status,call_id,variables');
  expect(csv).toContain('+14155550301,Ada,done,1,completed');
  expect(csv).toContain('morning');

  // The list shows it completed; its calls are in Calls.
  await page.goto('/dashboard/campaigns');
  await expect(page.locator('tr[data-campaign] [data-state="completed"]')).toBeVisible();
  await page.goto('/dashboard/calls');
  await expect(page.getByText('+1 (415) 555-0301').first()).toBeVisible();

  // Leave the sandbox as the other tests expect it: no mix, calls that last.
  await page.goto('/dashboard/settings/admin/sandbox');
  for (const field of ['Answered (%)']) {
    await mix.getByLabel(field).fill('');
  }
  await mix.getByRole('button', { name: 'Save mix' }).click();
  await expect(page.getByTestId('default-outcome')).not.toContainText('not used while the mix is set');
  await length.getByLabel('Shortest (seconds)').fill('');
  await length.getByRole('button', { name: 'Save call length' }).click();
  await expect(length.getByLabel('Shortest (seconds)')).toHaveValue('');
});
