import base from './playwright.config';
export default {
  ...base,
  projects: base.projects!.map((p: any) => ({ ...p, testMatch: [...(Array.isArray(p.testMatch) ? p.testMatch : [p.testMatch]), 'zz-bundle-tmp.spec.ts'] })),
};
