// Opens the retrieval service's /docs in Debian's Chromium (headless) and checks that Swagger UI rendered the
// routes, recording every request the page makes (all must go to the service itself).
// Env: CHROMIUM, MEDKG_DOCS (the /docs URL), MEDKG_SHOT (png path).
const launch = require('./launch');

(async () => {
  const env = process.env;
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
  const requests = [];
  const failed = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => failed.push(r.url()));
  await page.goto(env.MEDKG_DOCS, { waitUntil: 'networkidle' });
  let routes = [];
  try {
    await page.waitForSelector('.opblock-summary-path', { timeout: 30000 });
    routes = await page.$$eval('.opblock', (ops) => ops.map((o) => {
      const m = o.querySelector('.opblock-summary-method');
      const p = o.querySelector('.opblock-summary-path');
      return `${m ? m.innerText.trim() : '?'} ${p ? p.innerText.replace(/\u200b/g, '').trim() : '?'}`;
    }));
  } catch (e) { /* routes stays empty: the test says so */ }
  const title = await page.title();
  await page.screenshot({ path: env.MEDKG_SHOT, fullPage: false });
  await browser.close();
  console.log(JSON.stringify({ title, routes, requests, failed }));
})().catch((e) => { console.error(e); process.exit(1); });
