// Screenshots of a Snakemake report (results/report.html) in headless Chromium: the landing
// page and every figure of the Figures category opened, to check that the report shows them.
// Optional tooling, not part of the project's install: needs Node.js, `npm install
// playwright-core` (here or on NODE_PATH) and a Chromium (CHROMIUM, default /usr/bin/chromium).
//
//   node tools/report_screenshot.mjs results/report.html /tmp/shots
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { chromium } from "playwright-core";

const [report, out = "report-shots"] = process.argv.slice(2);
if (!report) {
  console.error("usage: node tools/report_screenshot.mjs REPORT.html [OUT_DIR]");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // no background networking: closed networks refuse Chromium's own connections
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
const url = "file://" + resolve(report);
await page.goto(url);
await page.waitForTimeout(1500);
await page.screenshot({ path: `${out}/0-landing.png` });

async function openFigures() {
  await page.goto(url);
  await page.waitForTimeout(1000);
  await page.getByText("Figures", { exact: true }).first().click();
  await page.waitForTimeout(500);
}

await openFigures();
// the subcategories (one per family, and phase 1): every one-word text is tried, and the
// ones that open a list with figures count
const folders = [...new Set((await page.locator("text=/^[a-z0-9_ ]+$/i").allInnerTexts()).map((t) => t.trim()))]
  .filter((t) => t && !["Figures", "Results", "Search..."].includes(t));
let shots = 0;
for (const folder of folders) {
  await openFigures();
  const entry = page.getByText(folder, { exact: true }).first();
  if (!(await entry.isVisible().catch(() => false))) continue;
  await entry.click();
  await page.waitForTimeout(500);
  const eyes = page.locator('a[iconname="eye"]');
  const count = await eyes.count();
  for (let i = 0; i < count; i++) {
    await eyes.nth(i).click();
    await page.waitForTimeout(1500);
    const name = `${out}/${++shots}-${folder.replace(/\W+/g, "_")}-${i}.png`;
    await page.screenshot({ path: name });
    console.log(`shot ${name}`);
  }
}
console.log(`${shots} figure screenshots`);
await browser.close();
process.exit(shots > 0 ? 0 : 1);
