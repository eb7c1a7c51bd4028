// Playwright drives Debian's Chromium against the shipped build of the real server
// (`cargo leptos build --release` puts it in the `server-release` profile's folder, with
// `hash.txt`), with the test doubles (SMTP sink, scripted model, mail API) from the `stubs`
// binary (package `devtools`, server/devtools; in the release folder).
// Build first: `cargo leptos build --release && cargo build --release -p devtools --bin stubs`.
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";

const repo = path.resolve(__dirname, "..");
const target = process.env.CARGO_TARGET_DIR || "/root/.cache/healthchat/target";
const bin = path.join(target, "server-release");
const stubsBin = path.join(target, "release");

// A fresh data directory per run. Worker processes load this file again; the variable
// they inherit keeps them from making another. Older runs' directories are removed, but
// not recent ones: another run may still be using its own.
if (!process.env.HC_E2E_DATA_DIR) {
  const base = path.join(__dirname, ".e2e-data");
  fs.mkdirSync(base, { recursive: true });
  for (const entry of fs.readdirSync(base)) {
    const old = path.join(base, entry);
    if (Date.now() - fs.statSync(old).mtimeMs > 15 * 60_000) fs.rmSync(old, { recursive: true, force: true });
  }
  const dir = path.join(base, `run-${Date.now()}-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  process.env.HC_E2E_DATA_DIR = dir;
}
const dataDir = process.env.HC_E2E_DATA_DIR;

const STUBS_API = process.env.STUBS_API_URL || "http://127.0.0.1:8025";
const cache = process.env.HEALTHCHAT_CACHE || path.join(process.env.HOME || "/root", ".cache", "healthchat");

// Two more instances of the server on one shared SecantusDB (as behind a load balancer,
// without sticky sessions), for instances.spec.ts; the main server keeps its embedded one.
const SHARED_DB_PORT = 27118;
const instance = (port: number) => ({
  command: path.join(bin, "server"),
  cwd: repo,
  url: `http://127.0.0.1:${port}/health/ready`,
  reuseExistingServer: false,
  timeout: 120_000,
  stdout: "ignore" as const,
  stderr: "pipe" as const,
  env: {
    BIND_ADDR: `127.0.0.1:${port}`,
    MONGODB_URI: `mongodb://127.0.0.1:${SHARED_DB_PORT}/?directConnection=true`,
    MONGODB_DATABASE: "healthchat_instances",
    JWT_SECRET: "e2e-instances-secret-0123456789abcdef0123456789",
    DATA_DIR: path.join(dataDir, `instance-${port}`),
    SMTP_URL: "smtp://127.0.0.1:2525",
    LLM_BASE_URL: "http://127.0.0.1:8026/v1",
    LLM_MODEL: "scripted",
    LEPTOS_SITE_ROOT: path.join(repo, "target", "site"),
    RUST_LOG: "warn",
  },
});

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 7_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: "http://127.0.0.1:8014",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
  webServer: [
    {
      command: path.join(stubsBin, "stubs"),
      url: `${STUBS_API}/health`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      command: path.join(bin, "server"),
      cwd: repo,
      url: "http://127.0.0.1:8014/health",
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: "ignore",
      stderr: "pipe",
      env: {
        BIND_ADDR: "127.0.0.1:8014",
        DATA_DIR: dataDir,
        SMTP_URL: "smtp://127.0.0.1:2525",
        LLM_BASE_URL: "http://127.0.0.1:8026/v1",
        // One test seeds 35 turns for one user at the stub model's instant pace.
        CHAT_MESSAGES_PER_MINUTE: "120",
        LLM_MODEL: "scripted",
        LEPTOS_SITE_ROOT: path.join(repo, "target", "site"),
        RUST_LOG: "info",
      },
    },
    {
      command: `${path.join(cache, "venv", "bin", "secantusd-py")} --host 127.0.0.1 --port ${SHARED_DB_PORT} --storage-path ${path.join(dataDir, "shared-db")}`,
      port: SHARED_DB_PORT,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    instance(8016),
    instance(8017),
  ],
});
