import { expect, test, type Page } from '@playwright/test';
import { signInAsAdmin } from './helpers';

// Calls against the sandbox's Twilio and LiveKit, hydrated and without JavaScript: place a
// call from an assigned number, transfer it, hang up if it is still on, read its timeline,
// and find it in the calls list.
test.describe.configure({ mode: 'serial' });

test('place a call, transfer it, and read its timeline', async ({ page }) => {
  await signInAsAdmin(page);

  // A number of our own (bought from the sandbox's inventory).
  await page.goto('/dashboard/phone-numbers/buy');
  await page.getByLabel('Area code').fill('510');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = page.locator('tr[data-available="+15105550107"]');
  await row.locator('summary').click();
  await row.getByRole('textbox', { name: 'Label' }).fill('Outbound line');
  await row.getByRole('button', { name: 'Buy +1 (510) 555-0107' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0107' })).toBeVisible();

  // An assistant, and the number assigned to it.
  await page.goto('/dashboard/assistants');
  const create = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  await create.getByRole('textbox', { name: 'Name', exact: true }).fill('Outbound desk');
  await create.getByRole('textbox', { name: 'Agent name' }).fill('outbound-agent');
  await create.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name: 'Outbound desk' })).toBeVisible();
  const assign = page.locator('section#assign');
  await assign.getByLabel('Number').selectOption({ label: '+1 (510) 555-0107 · Outbound line' });
  await assign.getByRole('button', { name: 'Assign number' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0107' })).toBeVisible();
  await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');

  // Place a call from the calls page; it waits until answered by default.
  await page.goto('/dashboard/calls');
  await hydrated(page);
  const place = page.locator('section#place-call');
  await place.getByLabel('From number').selectOption({ label: '+1 (510) 555-0107 · Outbound desk' });
  await place.getByLabel('Destination').fill('+14155550100');
  await place.locator('details.options > summary').click();
  await expect(place.getByLabel('Wait until answered')).toBeChecked();
  await expect(place.getByLabel('Play dial tone')).not.toBeChecked();
  await place.getByRole('button', { name: 'Call', exact: true }).click();
  await expect(page).toHaveURL(/\/dashboard\/calls\/[^/?#]+$/);
  const callUrl = new URL(page.url()).pathname;
  const callId = callUrl.split('/').pop() ?? '';
  await expect(page.getByRole('heading', { name: 'Call to +1 (415) 555-0100' })).toBeVisible();
  // The call is placed in the background: the page follows it (with JavaScript, through
  // the change stream: the fallback poll is 10 s away) or is reloaded (without) until the
  // callee answers.
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.getByTestId('call-status')).toHaveText('Answered', { timeout: 5_000 });
  }
  await expect(async () => {
    await page.goto(callUrl);
    await expect(page.getByTestId('call-status')).toHaveText('Answered', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByTestId('call-facts')).toContainText('Outbound desk');
  // A live call's duration counts up in the page (with JavaScript; without, each load
  // shows it anew).
  if (test.info().project.use.javaScriptEnabled !== false) {
    const duration = page.getByTestId('call-duration');
    const first = await duration.innerText();
    expect(first).toMatch(/^\d+:\d\d$/);
    await expect(duration).not.toHaveText(first, { timeout: 3_000 });
  }

  // Transfer, to a number typed as people type them: the result shows (as a banner with JavaScript, and as the call's last transfer).
  const controls = page.getByTestId('call-controls');
  await controls.getByLabel('Transfer to').fill('+1 415 555 0199');
  await controls.getByRole('button', { name: 'Transfer', exact: true }).click();
  await expect(page.getByText('Transferred to tel:+14155550199').first()).toBeVisible();

  // The sandbox's LiveKit ends a transferred call; hang up if it is still on.
  await expect(async () => {
    await page.goto(callUrl);
    if ((await page.getByTestId('call-controls').count()) > 0) {
      await page.locator('details.confirm summary', { hasText: 'Hang up' }).click();
      await page.getByRole('button', { name: 'Hang up now' }).click();
      await page.goto(callUrl);
    }
    await expect(page.getByTestId('call-status')).toHaveText('Ended', { timeout: 2_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.getByTestId('call-controls')).toHaveCount(0);
  await expect(page.getByTestId('call-outcome')).toHaveText('Completed · Transferred to tel:+14155550199');
  await expect(page.getByTestId('last-transfer')).toHaveText(
    "Transferred to tel:+14155550199: the call was handed over and Dial's part of it ended.",
  );

  // The timeline.
  const timeline = page.getByTestId('timeline');
  await expect(timeline.locator('li[data-kind="call.requested"]')).toHaveCount(1);
  await expect(timeline.locator('li[data-kind="participant_joined"]').first()).toBeVisible();
  await expect(timeline.locator('li[data-kind="transfer.started"]')).toHaveCount(1);
  await expect(timeline.locator('li[data-kind="transfer.succeeded"]')).toContainText('tel:+14155550199');

  // The calls list shows it, and links to it.
  await page.getByRole('link', { name: 'Back to calls' }).click();
  await expect(page).toHaveURL(/\/dashboard\/calls$/);
  const listed = page.locator(`tr[data-call="${callId}"]`);
  await expect(listed).toContainText('+1 (415) 555-0100');
  await expect(listed).toContainText('Outbound desk');
  await expect(listed).toContainText('Ended');
  await page.getByLabel('Direction').selectOption('inbound');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/direction=inbound/);
  await expect(page.locator(`tr[data-call="${callId}"]`)).toHaveCount(0);
  await page.getByRole('link', { name: 'Clear' }).click();
  await page.locator(`tr[data-call="${callId}"]`).getByRole('link').click();
  await expect(page.getByRole('heading', { name: 'Call to +1 (415) 555-0100' })).toBeVisible();

  // The overview counts it.
  await page.goto('/dashboard');
  await expect(page.getByTestId('call-stats')).toBeVisible();
  await expect(page.getByTestId('call-chart').locator('svg')).toBeVisible();
});

// LiveKit answers an inbound caller only once the agent publishes audio, and sends no
// webhook when it does: Dial follows the call, and its page shows Ringing, then Answered.
test('an inbound call rings until its agent answers, and its page follows it', async ({ page, context }) => {
  await signInAsAdmin(page);
  const sandbox = await context.newPage();
  await sandbox.goto('/dashboard/settings/admin/sandbox');
  await sandbox.getByLabel('Number called').fill('+1 510 555 0107');
  await sandbox.getByLabel('Caller').fill('+14155550177');
  await sandbox.getByLabel('Keep it ringing until the agent answers').check();
  await sandbox.getByRole('button', { name: 'Place inbound call' }).click();
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(sandbox.getByTestId('inbound-result')).toContainText('It rings until you press');
  }

  // The call, from the calls list: ringing.
  let callUrl = '';
  await expect(async () => {
    await page.goto('/dashboard/calls');
    const row = page.locator('tr[data-call]').filter({ hasText: '+1 (415) 555-0177' });
    await expect(row).toContainText('Ringing', { timeout: 1_000 });
    callUrl = (await row.getByRole('link').getAttribute('href')) ?? '';
  }).toPass({ timeout: 10_000 });
  await page.goto(callUrl);
  await expect(page.getByTestId('call-status')).toHaveText('Ringing');

  // The agent answers (in the sandbox's LiveKit); the page follows without a reload when
  // it can, or shows it on the next load without JavaScript.
  await sandbox.goto('/dashboard/settings/admin/sandbox');
  const ringing = sandbox.locator('tr[data-room]').filter({ hasText: '+14155550177' });
  await expect(ringing.getByTestId('fake-call-status')).toHaveText('ringing');
  await ringing.getByRole('button', { name: 'Agent answers' }).click();
  await expect(sandbox.locator('tr[data-room]').filter({ hasText: '+14155550177' }).getByTestId('fake-call-status'))
    .toHaveText('active');
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.getByTestId('call-status')).toHaveText('Answered', { timeout: 5_000 });
  } else {
    await expect(async () => {
      await page.goto(callUrl);
      await expect(page.getByTestId('call-status')).toHaveText('Answered', { timeout: 1_000 });
    }).toPass({ timeout: 10_000 });
  }
});

// Twilio refuses a transfer its trunk's Call Transfer setting does not allow. Someone turns
// transfers off in the Twilio console (here: the sandbox's Twilio, over its API); the
// refused transfer says why and the call stays on; the call page then explains instead of
// offering the form, and links an administrator to the number, where transfers are turned
// on in one confirmed click; the next transfer goes through.
test('a trunk that refuses transfers: the call says why, and an admin turns them on', async ({ page, request }) => {
  await signInAsAdmin(page);
  await page.goto('/dashboard/settings/admin/sandbox');
  const twilio = await page.locator('dt', { hasText: 'Twilio API' }).locator('xpath=following-sibling::dd[1]').innerText();
  const account = await page.locator('dt', { hasText: 'Twilio account' }).locator('xpath=following-sibling::dd[1]').innerText();
  // The sandbox's default credentials (`dial sandbox --help`).
  const headers = { Authorization: 'Basic ' + Buffer.from(`${account}:5a4db0c5a4db0c5a4db0c5a4db0c5a4d`).toString('base64') };
  const trunks = await (await request.get(`${twilio}/v1/Trunks`, { headers })).json();
  const trunk: string = trunks.trunks[0].sid;
  const off = await request.post(`${twilio}/v1/Trunks/${trunk}`, { headers, form: { TransferMode: 'disable-all' } });
  expect(off.status()).toBe(200);

  // A call from the assigned number.
  await page.goto('/dashboard/calls');
  await hydrated(page);
  const place = page.locator('section#place-call');
  await place.getByLabel('From number').selectOption({ label: '+1 (510) 555-0107 · Outbound desk' });
  await place.getByLabel('Destination').fill('+14155550101');
  await place.getByRole('button', { name: 'Call', exact: true }).click();
  await expect(page).toHaveURL(/\/dashboard\/calls\/[^/?#]+$/);
  const callUrl = new URL(page.url()).pathname;
  await expect(async () => {
    await page.goto(callUrl);
    await expect(page.getByTestId('call-status')).toHaveText('Answered', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });

  // Dial last read the trunk with transfers on, so it tries: Twilio refuses the REFER.
  await hydrated(page);
  const controls = page.getByTestId('call-controls');
  await controls.getByLabel('Transfer to').fill('+1 415 555 0199');
  await controls.getByRole('button', { name: 'Transfer', exact: true }).click();
  await expect(page.getByText('(SIP 403 Forbidden). The call is still connected.').first()).toBeVisible();
  await page.goto(callUrl);
  await expect(page.getByTestId('call-status')).toHaveText('Answered');
  await expect(page.getByTestId('last-transfer')).toContainText('failed');
  await expect(page.getByTestId('last-transfer')).toContainText('The call is still connected.');
  // Now the page explains rather than offering a transfer that would fail.
  const unavailable = page.getByTestId('transfer-unavailable');
  await expect(unavailable).toContainText('Transfer is unavailable.');
  await expect(unavailable).toContainText(trunk);
  await expect(unavailable).toContainText('disable-all');
  await expect(controls.getByLabel('Transfer to')).toHaveCount(0);

  // The fix, from the number's page: confirmed, then done.
  await unavailable.getByRole('link', { name: 'Turn on transfers for the number' }).click();
  await expect(page.getByRole('heading', { name: '+1 (510) 555-0107' })).toBeVisible();
  const warning = page.getByTestId('transfers-off');
  await expect(warning).toContainText('Calls on this number cannot be transferred.');
  const enable = page.getByTestId('enable-transfers');
  await enable.locator('summary').click();
  await expect(enable).toContainText(`Set Call Transfer on Twilio trunk ${trunk} to “enable-all”?`);
  await enable.getByRole('button', { name: 'Turn on transfers', exact: true }).click();
  await expect(page.getByTestId('transfers-off')).toHaveCount(0);
  const now = await (await request.get(`${twilio}/v1/Trunks/${trunk}`, { headers })).json();
  expect(now.transfer_mode).toBe('enable-all');

  // The audit log says it in words.
  await page.goto('/dashboard/settings/admin/audit');
  await expect(page.getByText('Transfers turned on at the Twilio trunk').first()).toBeVisible();

  // And the call transfers, to a number typed as soon as the form shows: what is typed
  // while the page loads stays as it hydrates and starts following the call.
  // The page's code arrives late (a slow link), so the typing is done before it hydrates.
  const js = test.info().project.use.javaScriptEnabled !== false;
  const slowCode = /\/pkg\/.*\.(js|wasm)(\?.*)?$/;
  let slow = js;
  if (js) {
    await page.route(slowCode, async (route) => {
      if (slow) await new Promise((done) => setTimeout(done, 1_500));
      await route.continue();
    });
  }
  await page.goto(callUrl, { waitUntil: 'commit' });
  const target = controls.getByLabel('Transfer to');
  await target.fill('+1 415 555 0199');
  if (js) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(0);
    slow = false;
  }
  await expect(page.getByTestId('transfer-unavailable')).toHaveCount(0);
  await hydrated(page);
  await page.unrouteAll({ behavior: 'wait' });
  // Time for what the hydrated page does first (its reads take milliseconds on loopback).
  await page.waitForTimeout(1_000);
  await expect(target).toHaveValue('+1 415 555 0199');
  await controls.getByRole('button', { name: 'Transfer', exact: true }).click();
  await expect(page.getByText('Transferred to tel:+14155550199').first()).toBeVisible();
});

// With JavaScript, waits until the page is hydrated (its forms then send through their
// server actions, and the page follows the call).
async function hydrated(page: Page) {
  if (test.info().project.use.javaScriptEnabled !== false) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  }
}
