// The `test` every spec uses: Playwright's, plus a guard that fails the test when the
// browser reports a Content-Security-Policy violation (the app must work under its CSP).
import { expect, test as base } from "@playwright/test";

export const test = base.extend<{ cspGuard: void }>({
  cspGuard: [
    async ({ page }, use) => {
      const violations: string[] = [];
      page.on("console", (message) => {
        const text = message.text();
        if (/Content[- ]Security[- ]Policy|Refused to (load|execute|connect|apply|evaluate|frame)/i.test(text)) {
          violations.push(text);
        }
      });
      await use();
      expect(violations, "CSP violations in the browser console").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
