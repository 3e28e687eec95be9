// Opens a build's report.html from disk in Debian's Chromium (headless, no network), checks that the page and
// its charts rendered, and saves a full-page screenshot.
// Env: CHROMIUM, MEDKG_REPORT (path of report.html), MEDKG_SHOT (png path).
const path = require('path');
const launch = require('./launch');

(async () => {
  const env = process.env;
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  await page.goto('file://' + path.resolve(env.MEDKG_REPORT), { waitUntil: 'load' });
  const info = await page.evaluate(() => ({
    title: document.title,
    headings: [...document.querySelectorAll('h2')].map((h) => h.innerText),
    charts: [...document.querySelectorAll('svg')].map((s) => Math.round(s.getBoundingClientRect().width)),
    bars: document.querySelectorAll('svg path, svg rect, svg use').length,
  }));
  await page.screenshot({ path: env.MEDKG_SHOT, fullPage: true });
  await browser.close();
  console.log(JSON.stringify({ ...info, requests }));
})().catch((e) => { console.error(e); process.exit(1); });
