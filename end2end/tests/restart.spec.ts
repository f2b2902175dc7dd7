import { expect, test, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { admin } from './helpers';

// The sandbox survives a restart: a number assigned in one `dial serve --sandbox` process
// still routes after that process is killed and another starts on the same data directory
// (the simulated Twilio and LiveKit keep their worlds there). This spec runs its own Dial,
// not the project's server, so it can stop and start it.
test.describe.configure({ mode: 'serial' });

const target = process.env.CARGO_TARGET_DIR ?? path.join(os.homedir(), '.cache', 'dial-target');
const bin = process.env.DIAL_BIN ?? path.join(target, 'debug', 'dial');
const site = process.env.DIAL_SITE_ROOT ?? path.join(target, 'site');

async function startDial(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(bin, ['serve', '--sandbox', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, DIAL_DATA_DIR: dataDir, DIAL_SITE_ROOT: site, DATABASE_URL: '', DIAL_LOG: 'warn' },
    stdio: 'ignore',
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const answer = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (answer.ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error('dial did not start');
}

async function stopDial(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function signIn(page: Page, base: string) {
  await page.goto(`${base}/`);
  if (page.url().endsWith('/setup')) {
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password', { exact: true }).fill(admin.password);
    await page.getByLabel('Password again').fill(admin.password);
    await page.getByRole('button', { name: 'Create administrator' }).click();
  } else if (page.url().includes('/login')) {
    await page.getByLabel('Username').fill(admin.username);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await expect(page).toHaveURL(/\/dashboard$/);
}

test('a restarted sandbox still routes the numbers it assigned', async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  const portBase = Number(process.env.DIAL_E2E_PORT_BASE ?? 3100);
  const port = portBase + (testInfo.project.use.javaScriptEnabled === false ? 11 : 10);
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dial-restart-'));
  let dial = await startDial(dataDir, port);
  try {
    await signIn(page, base);

    // Buy a number, create an assistant, assign it, prove the route.
    await page.goto(`${base}/dashboard/phone-numbers/buy`);
    await page.getByLabel('Area code').fill('510');
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator('tr[data-available="+15105550106"]');
    await row.locator('summary').click();
    await row.getByRole('button', { name: 'Buy +1 (510) 555-0106' }).click();
    await expect(page.getByRole('heading', { name: '+1 (510) 555-0106' })).toBeVisible();

    await page.goto(`${base}/dashboard/assistants`);
    const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Create assistant' }) });
    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Night line');
    await form.getByRole('textbox', { name: 'Agent name' }).fill('night-agent');
    await form.getByRole('button', { name: 'Create assistant' }).click();
    await expect(page.getByRole('heading', { name: 'Night line' })).toBeVisible();
    const assign = page.locator('section#assign');
    await assign.getByLabel('Number').selectOption({ label: '+1 (510) 555-0106' });
    await assign.getByRole('button', { name: 'Assign number' }).click();
    await expect(page.getByRole('heading', { name: '+1 (510) 555-0106' })).toBeVisible();
    await expect(page.locator('.run')).toHaveAttribute('data-run-status', 'done');
    const numberPage = page.url();
    await page.getByRole('button', { name: 'Test inbound route' }).click();
    await expect(page.getByTestId('route-check')).toContainText('Route test passed');
    // Each test call lands in a room of its own: the text tells one result from the next.
    const before = await page.getByTestId('route-check').innerText();

    // Kill Dial (and its simulated providers) outright, then start it again.
    await stopDial(dial);
    dial = await startDial(dataDir, port);

    await signIn(page, base);
    await page.goto(numberPage);
    await expect(page.getByTestId('number-assistant')).toHaveText('Night line');
    await page.getByRole('button', { name: 'Test inbound route' }).click();
    const check = page.getByTestId('route-check');
    await expect(check).not.toHaveText(before);
    await expect(check).toContainText('Route test passed');
    await expect(check).toContainText('agent night-agent was dispatched');
  } finally {
    await stopDial(dial);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
