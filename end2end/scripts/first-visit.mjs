// Measures what a first and a repeat visit to a page cost on an emulated mobile network, in
// Debian's Chromium through the DevTools protocol: bytes on the wire (encoded, as sent) and
// the time until the page is interactive (the app marks <body data-hydrated> once the WASM
// has hydrated it). Prints one JSON object. Used by `loadgen` for BENCHMARKS.md.
//
// Usage: node scripts/first-visit.mjs http://127.0.0.1:8004/signin
import { chromium } from "@playwright/test";

// Throughput in bytes per second, latency in ms (round trip).
const NETWORKS = {
  fast3g: { latency: 150, downloadThroughput: (1.6 * 1e6) / 8, uploadThroughput: (0.75 * 1e6) / 8 },
  "4g": { latency: 60, downloadThroughput: (9 * 1e6) / 8, uploadThroughput: (1.5 * 1e6) / 8 },
};

const url = process.argv[2];
if (!url) {
  console.error("usage: first-visit.mjs <url>");
  process.exit(2);
}

/** One visit in `context`: encoded bytes received (cache hits count 0) and ms to hydrated. */
async function visit(context, network) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, ...network });
  let bytes = 0;
  cdp.on("Network.loadingFinished", (e) => {
    bytes += e.encodedDataLength;
  });
  const started = Date.now();
  await page.goto(url);
  await page.waitForSelector("body[data-hydrated]", { timeout: 60_000 });
  const ms = Date.now() - started;
  await page.waitForLoadState("networkidle");
  await page.close();
  return { bytes, ms };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"],
});
const result = {};
try {
  for (const [name, network] of Object.entries(NETWORKS)) {
    const context = await browser.newContext();
    const first = await visit(context, network);
    const repeat = await visit(context, network);
    result[name] = { first_bytes: first.bytes, first_ms: first.ms, repeat_bytes: repeat.bytes, repeat_ms: repeat.ms };
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
