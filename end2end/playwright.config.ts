import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Each run gets fresh data directories (and, when the test script passes them, fresh
// PostgreSQL databases), so first-run can happen in every project.
const target = process.env.CARGO_TARGET_DIR ?? path.join(os.homedir(), '.cache', 'dial-target');
const bin = process.env.DIAL_BIN ?? path.join(target, 'debug', 'dial');
const site = process.env.DIAL_SITE_ROOT ?? path.join(target, 'site');
if (!process.env.DIAL_E2E_DIR) {
  process.env.DIAL_E2E_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'dial-e2e-'));
}
const runDir = process.env.DIAL_E2E_DIR;
// Ports base+1 … base+4, and base+10, base+11 for restart.spec.ts's own Dial
// (DIAL_E2E_PORT_BASE lets two checkouts run their suites at once).
const portBase = Number(process.env.DIAL_E2E_PORT_BASE ?? 3100);
const port = (n: number) => portBase + n;

function server(port: number, name: string, databaseUrl: string | undefined, extra = '') {
  return {
    command: `"${bin}" serve --listen 127.0.0.1:${port} ${extra}`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
    env: {
      DIAL_DATA_DIR: path.join(runDir, name),
      DIAL_SITE_ROOT: site,
      DATABASE_URL: databaseUrl ?? '',
      DIAL_LOG: 'warn',
    },
  };
}

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Calling from the browser (browser_call.spec.ts): a fake microphone, granted
        // without a prompt, and WebRTC over loopback to the simulated LiveKit with plain
        // host candidates (not mDNS names).
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--allow-loopback-in-peer-connection',
        '--disable-features=WebRtcHideLocalIpsWithMdns',
      ],
    },
  },
  projects: [
    { name: 'hydrated', testMatch: 'foundation.spec.ts', use: { baseURL: `http://127.0.0.1:${port(1)}`, javaScriptEnabled: true } },
    { name: 'no-js', testMatch: 'foundation.spec.ts', use: { baseURL: `http://127.0.0.1:${port(2)}`, javaScriptEnabled: false } },
    { name: 'sandbox', testMatch: ['assistants.spec.ts', 'calls.spec.ts', 'campaigns.spec.ts', 'numbers.spec.ts', 'phone.spec.ts', 'sandbox.spec.ts', 'restart.spec.ts', 'webhooks.spec.ts', 'health.spec.ts', 'browser_call.spec.ts'], use: { baseURL: `http://127.0.0.1:${port(3)}`, javaScriptEnabled: true } },
    { name: 'sandbox-no-js', testMatch: ['assistants.spec.ts', 'calls.spec.ts', 'campaigns.spec.ts', 'numbers.spec.ts', 'phone.spec.ts', 'sandbox.spec.ts', 'restart.spec.ts', 'webhooks.spec.ts', 'health.spec.ts', 'browser_call.spec.ts'], use: { baseURL: `http://127.0.0.1:${port(4)}`, javaScriptEnabled: false } },
  ],
  webServer: [
    server(port(1), 'hydrated', process.env.DIAL_E2E_DATABASE_URL_HYDRATED),
    server(port(2), 'no-js', process.env.DIAL_E2E_DATABASE_URL_NOJS),
    server(port(3), 'sandbox', process.env.DIAL_E2E_DATABASE_URL_SANDBOX, '--sandbox'),
    server(port(4), 'sandbox-no-js', process.env.DIAL_E2E_DATABASE_URL_SANDBOX_NOJS, '--sandbox'),
  ],
});
