// Drives `toonreid serve`'s page in headless Chromium (the system's, through
// playwright-core): choose a picture, wait for every face's answer (a numbered box on the
// picture, the decision, the ranked gallery photos), then enrol a photo under a new name
// with the token. Prints what it saw; exit 1 on any failure.
//   node serve_page_test.js URL PICTURE PHOTO TOKEN [DECISIONS]
// DECISIONS (optional): the expected decision of each face in order, e.g. "match,unknown".
const { chromium } = require('playwright-core');

const [url, picture, photo, token, expected] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// Waits until `predicate` holds in the page. (page.waitForFunction evaluates its predicate
// as a string inside the page, which the page's Content-Security-Policy forbids, as it
// should: no 'unsafe-eval'. page.evaluate goes through the debugging protocol instead.)
async function until(page, predicate, timeout = 30000) {
  const end = Date.now() + timeout;
  while (!(await page.evaluate(predicate))) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + predicate.toString());
    await new Promise(r => setTimeout(r, 50));
  }
}

(async () => {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    page.on('pageerror', e => { console.error('page error: ' + e.message); process.exitCode = 1; });
    // The page must work under its own Content-Security-Policy: a violation (an inline
    // style or script, eval) is a failure.
    page.on('console', m => {
      if (/Content Security Policy/i.test(m.text())) { console.error('CSP violation: ' + m.text()); process.exitCode = 1; }
    });
    await page.goto(url);
    await page.waitForSelector('#stats:not(:empty)');
    console.log('stats: ' + await page.textContent('#stats'));
    await page.setInputFiles('#file', picture);
    await until(page, () => /face\(s\)|no face|error/.test(document.querySelector('#status').textContent), 90000);
    console.log('status: ' + await page.textContent('#status'));
    // Every result's picture must have loaded (naturalWidth > 0), and every face have its box.
    await until(page, () => [...document.querySelectorAll('#faces .hit img')].every(i => i.complete && i.naturalWidth > 0));
    await until(page, () => document.querySelectorAll('#query .box').length === document.querySelectorAll('#faces .face').length);
    const faces = await page.$$eval('#faces .face', els => els.map(e => ({
      decision: e.querySelector('.decision').classList[1],
      text: e.querySelector('.decision').textContent,
      hits: [...e.querySelectorAll('.hit .who')].map(w => w.textContent) })));
    const boxes = await page.$$eval('#query .box', els => els.map(b => {
      const r = b.getBoundingClientRect(), img = document.querySelector('#query img').getBoundingClientRect();
      return { label: b.textContent, cls: b.classList[1], x: r.left - img.left, y: r.top - img.top, w: r.width, h: r.height };
    }));
    console.log(`faces: ${faces.length} (${faces.map(f => f.decision).join(',')})`);
    faces.forEach((f, i) => console.log(`  ${f.text}`));
    boxes.forEach(b => console.log(`  box ${b.label} ${b.cls} at ${b.x.toFixed(0)},${b.y.toFixed(0)} ${b.w.toFixed(0)}x${b.h.toFixed(0)}`));
    if (faces.length) console.log(`results: ${faces[0].hits.length} with pictures: ${faces[0].hits.join(', ')}`);
    if (expected !== undefined) {
      const want = expected.split(',');
      const got = faces.map(f => f.decision);
      if (got.join(',') !== want.join(',')) throw new Error(`decisions ${got.join(',')}, expected ${want.join(',')}`);
      if (boxes.map(b => b.cls).join(',') !== want.join(',')) throw new Error('the boxes do not carry the decisions');
      for (let i = 1; i < boxes.length; ++i)
        if (!(boxes[i].x > boxes[i - 1].x)) throw new Error('boxes out of picture order');
    }
    await page.fill('#identity', 'Page Person');
    await page.setInputFiles('#enrolfiles', photo);
    await page.fill('#token', token);
    await page.click('#enrol');
    await until(page, () => /enrolled|error|needs/.test(document.querySelector('#enrolstatus').textContent));
    const status = await page.textContent('#enrolstatus');
    console.log(status);
    if (!status.startsWith('enrolled')) throw new Error('enrolment failed: ' + status);
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(e.message || e); process.exit(1); });
