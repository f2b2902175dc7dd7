import { test, expect } from '@playwright/test';
test('banner node survives hydration', async ({ page }) => {
  await page.addInitScript(() => {
    (window as any).__removed = [];
    new MutationObserver((muts) => {
      for (const m of muts) for (const n of Array.from(m.removedNodes)) {
        (window as any).__removed.push((n as Element).outerHTML?.slice(0, 120) ?? n.textContent);
      }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto('/login');
  await expect(page.locator('body[data-hydrated="true"]')).toBeVisible({ timeout: 20000 });
  await page.waitForTimeout(500);
  console.log('REMOVED', JSON.stringify(await page.evaluate(() => (window as any).__removed)));
  const css = await page.evaluate(() => Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => (l as HTMLLinkElement).href));
  console.log('CSS', css);
  await page.screenshot({ path: '/tmp/bundle-login.png', fullPage: true });
});
