import type { Browser, Page } from "@playwright/test";
import { expect, test } from "./support/fixtures";
import { APP_ORIGIN, Mailbox, PASSWORD, gotoHydrated, seedTurns, uniqueEmail } from "./support/app";

// Markup that breaks out of a text area, an attribute or plain text, and would leave a
// trace (a dialog, an element, a global) if any of it ran or was parsed as HTML.
const HOSTILE =
  `</textarea><img src=x id="xss-img" onerror="window.__xss=1;alert(1)">` +
  `"><svg id="xss-svg" onload="alert(2)"></svg><script>window.__xss=1</script>`;

// Names, goals and titles have length limits (80, 120, 120): the same breakout, shorter.
const SHORT_HOSTILE = `</textarea><img src=x id="xss-img" onerror="alert(1)">`;

/** Signs a user up whose name, goals, health notes, message and chat title are all hostile. */
async function hostileUser(browser: Browser, request: import("@playwright/test").APIRequestContext) {
  const context = await browser.newContext();
  const email = uniqueEmail("xss");
  const headers = { origin: APP_ORIGIN };
  const mailbox = new Mailbox(request);
  expect((await context.request.post("/auth/signup", { data: { email, password: PASSWORD, name: SHORT_HOSTILE }, headers })).ok()).toBeTruthy();
  const code = await mailbox.code(email);
  expect((await context.request.post("/auth/verify-email", { data: { email, code }, headers })).ok()).toBeTruthy();
  const profile = { goals: [SHORT_HOSTILE, "run 5k"], health_notes: HOSTILE, units: "metric" };
  const saved = await context.request.put("/users/me/profile", { data: profile, headers });
  expect(saved.ok(), await saved.text()).toBeTruthy();
  const page = await context.newPage();
  await gotoHydrated(page, "/chat");
  const sessionId = await seedTurns(page, [HOSTILE]);
  const renamed = await context.request.patch(`/chat/sessions/${sessionId}`, { data: { title: SHORT_HOSTILE }, headers });
  expect(renamed.ok(), await renamed.text()).toBeTruthy();
  await page.close();
  return { state: await context.storageState(), sessionId, close: () => context.close() };
}

/** Nothing of HOSTILE ran or became an element on this page. */
async function expectInert(page: Page, dialogs: string[]) {
  await expect(page.locator("#xss-img, #xss-svg, img[src='x']")).toHaveCount(0);
  expect(dialogs, "no dialog opened").toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
}

for (const javaScriptEnabled of [true, false]) {
  test(`text people write stays text on every page (JavaScript ${javaScriptEnabled ? "on" : "off"})`, async ({
    browser,
    request,
  }) => {
    const user = await hostileUser(browser, request);
    const context = await browser.newContext({ storageState: user.state, javaScriptEnabled });
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on("dialog", async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    for (const path of ["/profile", "/chat", `/chat/${user.sessionId}`]) {
      if (javaScriptEnabled) await gotoHydrated(page, path);
      else await page.goto(path);
      await expectInert(page, dialogs);
      if (path === "/profile") {
        // The hostile text is the field's value, whole, and nothing after it leaked out.
        await expect(page.locator("#health_notes")).toHaveValue(HOSTILE);
        await expect(page.locator("#goals")).toHaveValue(new RegExp(`^${SHORT_HOSTILE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
      } else {
        await expect(page.getByText("</textarea><img src=x", { exact: false }).first()).toBeVisible();
      }
    }
    await context.close();
    await user.close();
  });
}
