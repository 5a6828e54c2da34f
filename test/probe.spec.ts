import { make } from '../src/probe.js';
it('works', async () => {
  const app = await make();
  const res = await fetch(await app.getUrl() + '/hi');
  await expect(res.json()).resolves.toEqual({ ok: true });
  await app.close();
});
