// Debian's Chromium, headless, as the test machines can run it: no sandbox (root), no GPU, and none of the
// background connections a closed network refuses. $CHROMIUM names the binary.
const { chromium } = require('playwright-core');

module.exports = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
