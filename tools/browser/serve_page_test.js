// Drives `toonreid serve`'s page in headless Chromium (the system's, through
// playwright-core): choose a cartoon, wait for ranked results with pictures, enrol a
// photo under a new name with the token. Prints what it saw; exit 1 on any failure.
//   node serve_page_test.js URL CARTOON PHOTO TOKEN
const { chromium } = require('playwright-core');

const [url, cartoon, photo, token] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

(async () => {
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    page.on('pageerror', e => { console.error('page error: ' + e.message); process.exitCode = 1; });
    await page.goto(url);
    await page.waitForSelector('#stats:not(:empty)');
    console.log('stats: ' + await page.textContent('#stats'));
    await page.setInputFiles('#file', cartoon);
    await page.waitForSelector('#results .hit img', { timeout: 60000 });
    // Every result's picture must have loaded (naturalWidth > 0).
    await page.waitForFunction(() => [...document.querySelectorAll('#results .hit img')].every(i => i.complete && i.naturalWidth > 0));
    const hits = await page.$$eval('#results .hit', els => els.map(e => e.querySelector('.who').textContent));
    console.log(`results: ${hits.length} with pictures: ${hits.join(', ')}`);
    if (hits.length !== 5) throw new Error('expected 5 results');
    await page.fill('#identity', 'Page Person');
    await page.setInputFiles('#enrolfiles', photo);
    await page.fill('#token', token);
    await page.click('#enrol');
    await page.waitForFunction(() => /enrolled|error|needs/.test(document.querySelector('#enrolstatus').textContent));
    const status = await page.textContent('#enrolstatus');
    console.log(status);
    if (!status.startsWith('enrolled')) throw new Error('enrolment failed: ' + status);
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(e.message || e); process.exit(1); });
