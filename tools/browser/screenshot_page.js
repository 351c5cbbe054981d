// The README screenshot: the page after a re-ranked search for a picture (every face
// answered, its top 5 photos loaded).
//   NODE_PATH=.cache/node/node_modules node tools/browser/screenshot_page.js URL PICTURE OUT.png
const { chromium } = require('playwright-core');
const [url, picture, out] = process.argv.slice(2);

// Polls through page.evaluate: page.waitForFunction evaluates a string in the page, which
// its Content-Security-Policy (no 'unsafe-eval') forbids.
async function until(page, predicate, timeout = 60000) {
  const end = Date.now() + timeout;
  while (!(await page.evaluate(predicate))) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + predicate.toString());
    await new Promise(r => setTimeout(r, 50));
  }
}

(async () => {
  const b = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const p = await b.newPage({ viewport: { width: 1100, height: 700 } });
  await p.goto(url);
  await p.waitForSelector('#stats:not(:empty)');
  await p.fill('#topk', '5');
  await p.check('#rerank');
  await p.setInputFiles('#file', picture);
  await until(p, () => document.querySelectorAll('#faces .face').length > 0 &&
    [...document.querySelectorAll('#faces .hit img')].every(i => i.complete && i.naturalWidth > 0));
  await p.screenshot({ path: out, fullPage: true });
  await b.close();
})().catch(e => { console.error(e); process.exit(1); });
