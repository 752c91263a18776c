// Serves web/www on 127.0.0.1, opens `page?query` in headless Chromium on its
// WebGPU software adapter, waits (in real time, at most TIMEOUT_MS) until the page
// writes <pre id="result">, prints that text and exits. The browser is the one
// this script launched, and it is closed on every path.
//
// usage: [SCREENSHOT=FILE] [NO_ISOLATION=1] node drive.mjs ROOT_DIR QUERY [TIMEOUT_MS] [PAGE]   (PAGE: index.html)
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const [root, query, timeoutArg, pagePath] = process.argv.slice(2);
const timeout = Number(timeoutArg || 300000);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const file = path.join(root, path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, ""));
  fs.readFile(file.endsWith("/") ? file + "index.html" : file, (err, body) => {
    if (err) { res.writeHead(404); res.end(); return; }
    const headers = { "content-type": types[path.extname(file)] || "application/octet-stream" };
    // Cross-origin isolation (what lets the page's Stop keep a run's model) unless
    // NO_ISOLATION is set, as a plain static server would serve it.
    if (!process.env.NO_ISOLATION) {
      headers["cross-origin-opener-policy"] = "same-origin";
      headers["cross-origin-embedder-policy"] = "require-corp";
    }
    res.writeHead(200, headers);
    res.end(body);
  });
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const url = `http://127.0.0.1:${server.address().port}/${pagePath || "index.html"}?${query}`;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"],
});
let code = 0;
let result = "";
try {
  const page = await browser.newPage();
  page.on("console", (m) => process.stderr.write(`page: ${m.text()}\n`));
  page.on("pageerror", (e) => process.stderr.write(`page error: ${e.message}\n`));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("result").textContent.length > 0, { timeout, polling: 500 });
  result = await page.$eval("#result", (e) => e.textContent);
  // SCREENSHOT=FILE keeps a picture of the page as the run left it (the README's).
  // The result (a checkpoint in base64) is the test's hook, not part of the page.
  if (process.env.SCREENSHOT) {
    await page.$eval("#result", (e) => { e.textContent = ""; });
    await page.setViewport({ width: 820, height: 900 });
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  }
} catch (e) {
  process.stderr.write(`drive.mjs: ${e.message}\n`);
  code = 1;
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
}
// Exit only once the whole result is written: a pipe takes it in pieces.
process.stdout.write(result + "\n", () => process.exit(code));
