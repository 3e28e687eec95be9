// Opens the Neo4j Browser served by the test server in Debian's Chromium (headless), connects over Bolt,
// applies medkg's GraSS style, runs one query and saves a screenshot of the result.
// Env: MEDKG_GUIDE (guide URL to :play first), MEDKG_PARAMS (a :param map), MEDKG_HTTP (http://127.0.0.1:7474), MEDKG_BOLT (127.0.0.1:7687), NEO4J_USERNAME, NEO4J_PASSWORD,
//      MEDKG_QUERY, MEDKG_EXPECT (text the result must show), MEDKG_SHOT (png path), MEDKG_GRASS (style file).
const fs = require('fs');
const launch = require('./launch');

(async () => {
  const env = process.env;
  const browser = await launch();
  const fail = async (msg, page) => {
    if (page) await page.screenshot({ path: env.MEDKG_SHOT.replace(/\.png$/, '-failed.png') });
    console.error(msg);
    await browser.close();
    process.exit(1);
  };
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`${env.MEDKG_HTTP}/browser/`, { waitUntil: 'networkidle' });
  await page.waitForSelector('[data-testid="boltaddress"]', { timeout: 60000 });
  await page.selectOption('[data-testid="bolt-scheme-select"]', 'bolt://');
  await page.fill('[data-testid="boltaddress"]', env.MEDKG_BOLT);
  await page.fill('[data-testid="username"]', env.NEO4J_USERNAME || 'neo4j');
  await page.fill('[data-testid="password"]', env.NEO4J_PASSWORD);
  await page.click('[data-testid="connect"]');
  try {
    await page.waitForSelector('[data-testid="disconnectedBanner"]', { state: 'detached', timeout: 60000 });
  } catch (e) { await fail('could not connect: ' + e, page); }

  await page.waitForTimeout(2000);  // let the Browser settle after connecting (it runs its own frames)
  const run = async (text) => {
    const before = await page.$$eval('[data-testid="frame"]', fs => fs.length);
    await page.click('[data-testid="activeEditor"]');
    await page.keyboard.type(text);
    await page.click('[data-testid="editor-Run"]');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="frame"]').length > n, before,
                               { timeout: 30000 });
  };
  if (env.MEDKG_GUIDE) {
    await run(':play ' + env.MEDKG_GUIDE);
    try {
      await page.waitForFunction(() => document.body.innerText.includes('a multimodal radiology knowledge graph'),
                                 null, { timeout: 30000 });
    } catch (e) { await fail('the medkg guide did not open', page); }
  }
  if (env.MEDKG_GRASS) {
    await run(':style ' + fs.readFileSync(env.MEDKG_GRASS, 'utf8').replace(/\s+/g, ' '));
    await page.waitForTimeout(1000);
  }
  if (env.MEDKG_PARAMS) await run(':param ' + env.MEDKG_PARAMS);
  await run(env.MEDKG_QUERY);
  try {
    await page.waitForFunction(
      (expect) => [...document.querySelectorAll('[data-testid="frame"]')].some(f => f.innerText.includes(expect)),
      env.MEDKG_EXPECT, { timeout: 60000 });
  } catch (e) { await fail('the result never showed ' + JSON.stringify(env.MEDKG_EXPECT), page); }
  await page.waitForTimeout(1500);
  await page.screenshot({ path: env.MEDKG_SHOT });
  await browser.close();
  console.log('saved ' + env.MEDKG_SHOT);
})().catch((e) => { console.error(e); process.exit(1); });
