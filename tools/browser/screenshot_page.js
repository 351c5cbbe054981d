// The README screenshot: the page after a re-ranked search for a cartoon.
//   NODE_PATH=.cache/node/node_modules node tools/browser/screenshot_page.js URL CARTOON OUT.png
const { chromium } = require('playwright-core');
const [url, cartoon, out] = process.argv.slice(2);
(async () => {
  const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const p = await b.newPage({ viewport: { width: 1100, height: 700 } });
  await p.goto(url);
  await p.waitForSelector('#stats:not(:empty)');
  await p.fill('#topk', '5');
  await p.check('#rerank');
  await p.setInputFiles('#file', cartoon);
  await p.waitForFunction(() => document.querySelectorAll('#results .hit img').length === 5 &&
    [...document.querySelectorAll('#results .hit img')].every(i => i.complete && i.naturalWidth > 0));
  await p.screenshot({ path: out, fullPage: true });
  await b.close();
})().catch(e => { console.error(e); process.exit(1); });
