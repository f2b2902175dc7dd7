import { expect, test, type Page } from '@playwright/test';
import { signInAsAdmin } from './helpers';

// Calling from the browser in the sandbox, in a real Chromium with a fake microphone
// (playwright.config.ts launches it with --use-fake-device-for-media-stream and
// --use-fake-ui-for-media-stream): the page joins the call's room in the simulated
// LiveKit over LiveKit's own client (livekit-client, signalling and WebRTC for real; no
// audio is simulated), Dial dials the phone into that room only after the join, the call
// is answered, tones go out as SIP DTMF, and hanging up ends it. Listening in joins an
// assistant's call subscribe-only. Without JavaScript the page says calling needs it.
test.describe.configure({ mode: 'serial' });

const js = () => test.info().project.use.javaScriptEnabled !== false;

/** What the simulated LiveKit recorded of browsers (fakes/src/livekit/rtc.rs). */
type Clients = {
  joins: { room: string; identity: string; can_publish: boolean; can_subscribe: boolean; can_publish_data: boolean }[];
  dtmf: { room: string; identity: string; code: number; digit: string }[];
};

async function clients(page: Page, livekitUrl: string): Promise<Clients> {
  const response = await page.request.get(`${livekitUrl}/fake/clients`);
  expect(response.ok()).toBe(true);
  return (await response.json()) as Clients;
}

/** A number of our own, bought from an area code no other spec uses. */
async function buyNumber(page: Page, available: string, heading: string) {
  await page.goto(`/dashboard/phone-numbers/buy?country=US&kind=local&voice=on&area_code=617&contains=${available.slice(-4)}`);
  const row = page.locator(`tr[data-available="${available}"]`);
  await row.locator('summary').click();
  await row.getByRole('button', { name: `Buy ${heading}` }).click();
  await expect(page.getByRole('heading', { name: heading })).toBeVisible();
}

test('place a call from the browser: join, dial, answer, tones, hang up', async ({ page }) => {
  await signInAsAdmin(page);
  const offset = js() ? '30' : '31';
  const shown = `+1 (617) 555-01${offset}`;
  await buyNumber(page, `+161755501${offset}`, shown);
  await page.getByRole('link', { name: 'Call from the browser' }).click();
  await expect(page.getByRole('heading', { name: 'Call from the browser' })).toBeVisible();
  const card = page.locator('[data-browser-call="place"]');
  await expect(card.getByLabel('Call from')).toHaveValue(/.+/);
  await expect(card.getByLabel('Call from').locator('option:checked')).toHaveText(shown);
  await expect(card.getByTestId('browser-sandbox-note')).toContainText('no audio is carried');

  if (!js()) {
    // Without JavaScript the card says calling needs it, before and after the form is sent.
    await expect(card.getByTestId('browser-needs-js')).toBeVisible();
    await card.getByLabel('Number to call').fill('+14155550100');
    await card.getByRole('button', { name: 'Call', exact: true }).click();
    await expect(page.getByTestId('browser-needs-js-submitted')).toContainText('needs JavaScript');
    await expect(page.getByTestId('browser-needs-js-submitted')).toContainText('Everything else in Dial works without it');
    return;
  }

  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(card).toHaveAttribute('data-bc-ready', 'true');
  await card.getByLabel('Number to call').fill('+14155550100');
  await card.getByRole('button', { name: 'Call', exact: true }).click();
  const status = card.locator('[data-bc-status]');
  await expect(status).toHaveText('Answered: you are talking to +14155550100.', { timeout: 20_000 });
  await expect(card.getByRole('group', { name: /Keypad/ })).toBeVisible();
  const livekitUrl = (await card.getAttribute('data-bc-url')) ?? '';
  const room = (await card.getAttribute('data-bc-room')) ?? '';
  const callId = (await card.getAttribute('data-bc-call')) ?? '';
  expect(room).toMatch(/^dial-browser-/);

  // The simulated LiveKit saw this browser join that room, speaking.
  const joined = (await clients(page, livekitUrl)).joins.filter((j) => j.room === room);
  expect(joined).toEqual([
    expect.objectContaining({ identity: 'dial:admin', can_publish: true, can_subscribe: true, can_publish_data: true }),
  ]);

  // Tones go out as SIP DTMF over LiveKit's data channel.
  await card.getByRole('button', { name: 'Tone 4' }).click();
  await card.getByRole('button', { name: 'Tone #' }).click();
  await expect(card.locator('[data-bc-digits]')).toHaveText('4#');
  await expect(async () => {
    const sent = (await clients(page, livekitUrl)).dtmf.filter((d) => d.room === room);
    expect(sent.map((d) => [d.code, d.digit])).toEqual([
      [4, '4'],
      [11, '#'],
    ]);
  }).toPass({ timeout: 10_000 });

  // Mute toggles; the level meter is there.
  await card.getByRole('button', { name: 'Mute' }).click();
  await expect(card.getByRole('button', { name: 'Unmute' })).toHaveAttribute('aria-pressed', 'true');
  await expect(card.locator('meter[data-bc-level]')).toBeVisible();

  // Hang up: the call ends for both, and its page says who placed it and how it ended.
  await card.getByRole('button', { name: 'Hang up' }).click();
  await expect(status).toHaveText('Ended. The call ended.', { timeout: 10_000 });
  await page.goto(`/dashboard/calls/${callId}`);
  await expect(page.getByTestId('call-placed-by')).toHaveText('admin, from the browser');
  await expect(page.getByTestId('call-status')).toHaveText('Ended');
  await expect(page.getByTestId('call-outcome')).toContainText('Hung up by admin');
  await expect(page.getByText("The browser joined the call's room: Dial dials the phone now")).toBeVisible();
  // In the calls list, the call says who placed it.
  await page.goto('/dashboard/calls');
  const row = page.locator('tr').filter({ has: page.locator(`a[href="/dashboard/calls/${callId}"]`) });
  await expect(row).toContainText('admin, from the browser');
});

test('a refused microphone is said in plain words and nothing is dialled', async ({ page }) => {
  if (!js()) {
    // Without JavaScript nothing asks for the microphone: sending the form says calling
    // needs JavaScript, and no call is recorded.
    await signInAsAdmin(page);
    await page.goto('/dashboard/calls/browser');
    const card = page.locator('[data-browser-call="place"]');
    await card.getByLabel('Number to call').fill('+14155550111');
    await card.getByRole('button', { name: 'Call', exact: true }).click();
    await expect(page.getByTestId('browser-needs-js-submitted')).toContainText('needs JavaScript');
    await page.goto('/dashboard/calls');
    await expect(page.locator('tr', { hasText: '+1 (415) 555-0111' })).toHaveCount(0);
    return;
  }
  // Chromium's answer when the person refuses the microphone prompt.
  await page.addInitScript(() => {
    navigator.mediaDevices.getUserMedia = () =>
      Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  });
  await signInAsAdmin(page);
  await page.goto('/dashboard/calls/browser');
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  const card = page.locator('[data-browser-call="place"]');
  await expect(card).toHaveAttribute('data-bc-ready', 'true');
  await card.getByLabel('Number to call').fill('+14155550111');
  await card.getByRole('button', { name: 'Call', exact: true }).click();
  await expect(card.getByRole('alert')).toHaveText(
    'Your browser did not allow Dial to use the microphone. Allow it for this site (the icon in the address bar) and try again. Nothing was dialled.',
  );
  await expect(card.locator('[data-bc-status]')).toHaveText('Not connected.');
  // Nothing was recorded: no call to that number exists.
  await page.goto('/dashboard/calls');
  await expect(page.locator('tr', { hasText: '+1 (415) 555-0111' })).toHaveCount(0);
});

test("listen in on an assistant's call: subscribe-only, then leave", async ({ page }) => {
  await signInAsAdmin(page);
  // An inbound call to an assigned number, answered by its (simulated) agent.
  const offset = js() ? '32' : '33';
  const shown = `+1 (617) 555-01${offset}`;
  await buyNumber(page, `+161755501${offset}`, shown);
  await page.goto('/dashboard/assistants');
  const create = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
  const name = `Listen desk ${offset}`;
  await create.getByRole('textbox', { name: 'Name', exact: true }).fill(name);
  await create.getByRole('textbox', { name: 'Agent name' }).fill(`listen-agent-${offset}`);
  await create.getByRole('button', { name: 'Create assistant' }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  const assign = page.locator('section#assign');
  await assign.getByLabel('Number').selectOption({ label: shown });
  await assign.getByRole('button', { name: 'Assign number' }).click();
  await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');

  await page.goto('/dashboard/settings');
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Sandbox' }).click();
  await page.getByLabel('Number called').fill(`+161755501${offset}`);
  await page.getByRole('button', { name: 'Place inbound call' }).click();
  await page.goto('/dashboard/calls');
  const row = page.locator('tr', { hasText: shown }).first();
  await row.getByRole('link').first().click();
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('call-status')).toHaveText('Answered', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });

  const card = page.locator('[data-browser-call="listen"]');
  await expect(card.getByRole('heading', { name: 'Listen in from the browser' })).toBeVisible();
  if (!js()) {
    await expect(card.getByTestId('browser-needs-js')).toBeVisible();
    return;
  }
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await expect(card).toHaveAttribute('data-bc-ready', 'true');
  await card.getByRole('button', { name: 'Listen in' }).click();
  const status = card.locator('[data-bc-status]');
  await expect(status).toHaveText('Listening in: nobody in the call hears you.', { timeout: 20_000 });
  const livekitUrl = (await card.getAttribute('data-bc-url')) ?? '';
  const room = (await card.getAttribute('data-bc-room')) ?? '';
  const joins = (await clients(page, livekitUrl)).joins.filter((j) => j.room === room);
  expect(joins).toEqual([
    expect.objectContaining({ identity: 'dial:admin', can_publish: false, can_subscribe: true, can_publish_data: false }),
  ]);
  // Listening: no microphone, no keypad, no take-over.
  await expect(card.getByRole('button', { name: 'Mute' })).toBeHidden();
  await expect(card.getByRole('button', { name: 'Take over from the agent' })).toBeHidden();
  await card.getByRole('button', { name: 'Leave the call' }).click();
  await expect(status).toHaveText('You left the call.');
  // The join is on the call's timeline.
  await page.reload();
  await expect(page.getByText('Joined from the browser')).toBeVisible();
});
