import { defineConfig } from "@playwright/test";

// The server under test is the real binary built by `scripts/build`, on its own
// port and a fresh SQLite file per run. `scripts/test` sets CHRONICLE_BIN and
// LEPTOS_SITE_ROOT; `webServer` waits until /healthz answers before any test starts.
const port = Number(process.env.CHRONICLE_E2E_PORT ?? 3900);
const baseURL = `http://127.0.0.1:${port}`;
const bin = process.env.CHRONICLE_BIN ?? "../target/debug/chronicle";
const db = process.env.CHRONICLE_E2E_DATABASE_URL ?? `sqlite://${process.env.CHRONICLE_E2E_DIR ?? "/tmp"}/chronicle-e2e-${Date.now()}.sqlite3`;

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        browserName: "chromium",
        launchOptions: {
          // Debian's Chromium: Playwright downloads no browser here.
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
          ],
        },
      },
    },
  ],
  webServer: {
    command: `${bin} serve --addr 127.0.0.1:${port}`,
    url: `${baseURL}/healthz`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      DATABASE_URL: db,
      // Tests sign in through the development mailbox.
      CHRONICLE_DEV_MAILBOX: "true",
      RUST_LOG: "info,sqlx=warn",
    },
  },
});
