import { expect, test } from "./support/fixtures";
import {
  ANSWER,
  ChatPage,
  Mailbox,
  STUBS_API,
  gotoHydrated,
  screenshot,
  seedTurns,
  setModelPace,
  signUpByApi,
} from "./support/app";

test.describe("chat", () => {
  test.beforeEach(async ({ context, request }) => {
    await signUpByApi(context, new Mailbox(request), "chat");
  });

  test("an answer streams in, survives a reload, and sessions sync across tabs", async ({ page, context }) => {
    // Hydration mismatches and panics show up as console errors.
    const problems: string[] = [];
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(e.message));
    const chat = new ChatPage(page);
    await chat.open();
    await chat.recordAnswerGrowth();

    await chat.send("How should I start running?");
    await expect(chat.userTexts.last()).toHaveText("How should I start running?");
    const answer = await chat.waitForAnswer();
    expect(answer).toBe(ANSWER);
    await expect(chat.lastAnswer().getByTestId("response-time")).toHaveText(/^\d+(\.\d)? s$|^\d+ ms$/);

    // The text grew over several frames rather than arriving at once.
    const lengths = (await chat.answerLengths()).filter((n) => n > 0);
    const distinct = [...new Set(lengths)];
    expect(distinct.length, `lengths seen: ${lengths.join(",")}`).toBeGreaterThanOrEqual(3);
    expect(distinct[0]).toBeLessThan(ANSWER.length);

    // The new chat got its own URL (without a reload) and a place in the sidebar.
    await expect(page).toHaveURL(/\/chat\/[0-9a-f-]{36}$/);
    const sessionId = chat.currentSessionId();
    await expect(chat.session(sessionId)).toBeVisible();
    await screenshot(page, "chat-answer");

    // A reload shows the history straight from the server.
    await page.reload();
    await expect(chat.userTexts.first()).toHaveText("How should I start running?");
    await expect(chat.answers.first().locator(".markdown")).toHaveText(ANSWER);
    await expect(chat.answers.first().getByTestId("response-time")).toBeVisible();

    // A second tab sees a chat created in the first.
    const other = new ChatPage(await context.newPage());
    await other.open("/chat");
    await expect(other.sessions).toHaveCount(1);
    await page.getByTestId("new-chat").click();
    await expect(page).toHaveURL(/\/chat$/);
    await chat.send("And what should I eat before a run?");
    await chat.waitForAnswer();
    const secondId = chat.currentSessionId();
    expect(secondId).not.toBe(sessionId);
    await expect(other.sessions).toHaveCount(2);
    await expect(other.session(secondId)).toBeVisible();

    // Rename inline; the other tab follows.
    await chat.session(secondId).getByTestId("rename-session").click();
    const title = chat.session(secondId).getByTestId("rename-input");
    await expect(title).toBeFocused();
    await title.fill("Pre-run snacks");
    await title.press("Enter");
    await expect(chat.session(secondId)).toContainText("Pre-run snacks");
    await expect(other.session(secondId)).toContainText("Pre-run snacks");
    await screenshot(other.page, "chat-second-tab");

    // Delete, then undo from the toast.
    await chat.session(secondId).getByTestId("delete-session").click();
    await expect(page.getByTestId("toast")).toContainText("Deleted");
    await expect(chat.session(secondId)).toHaveCount(0);
    await expect(page).toHaveURL(/\/chat$/);
    await expect(other.session(secondId)).toHaveCount(0);
    await screenshot(page, "chat-deleted-toast");
    await page.getByTestId("undo-delete").click();
    await expect(chat.session(secondId)).toBeVisible();
    await expect(chat.session(secondId)).toContainText("Pre-run snacks");

    await page.emulateMedia({ colorScheme: "dark" });
    await chat.session(secondId).getByRole("link").click();
    await expect(chat.userTexts.first()).toHaveText("And what should I eat before a run?");
    await screenshot(page, "chat-dark");
    expect(problems).toEqual([]);
  });

  test("the history is readable with JavaScript turned off", async ({ page, context, browser }) => {
    const chat = new ChatPage(page);
    await chat.open();
    await chat.send("What is a good warm-up?");
    await chat.waitForAnswer();
    await expect(page).toHaveURL(/\/chat\/[0-9a-f-]{36}$/);
    const url = page.url();

    const noJs = await browser.newContext({ javaScriptEnabled: false, storageState: await context.storageState() });
    try {
      const plain = await noJs.newPage();
      const response = await plain.goto(new URL(url).pathname);
      expect(response?.status()).toBe(200);
      const html = await response!.text();
      expect(html).toContain("What is a good warm-up?");
      expect(html).toContain("twenty-minute runs");
      await expect(plain.getByTestId("user-text").first()).toHaveText("What is a good warm-up?");
      await expect(plain.getByTestId("answer").first().locator(".markdown")).toHaveText(ANSWER);
      await screenshot(plain, "chat-no-javascript");
    } finally {
      await noJs.close();
    }
  });

  test("a message with a script tag is shown as text, never run", async ({ page }) => {
    const dialogs: string[] = [];
    page.on("dialog", async (d) => {
      dialogs.push(d.message());
      await d.dismiss();
    });
    const chat = new ChatPage(page);
    await chat.open();
    const evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    await chat.send(evil);
    await expect(chat.userTexts.last()).toHaveText(evil);
    await chat.waitForAnswer();
    await page.reload();
    await expect(chat.userTexts.first()).toHaveText(evil);
    await expect(page.locator('[data-testid="messages"] script')).toHaveCount(0);
    await expect(page.locator('[data-testid="messages"] img')).toHaveCount(0);
    expect(dialogs).toEqual([]);
  });

  test("a dropped socket reconnects and the answer completes without repeats", async ({ page }) => {
    // Sit between the page and the server: after three deltas, cut the connection on
    // both sides (the server sees its socket close; the page sees a drop).
    let connections = 0;
    let dropped = false;
    await page.routeWebSocket(/\/chat\/ws$/, (ws) => {
      connections += 1;
      const server = ws.connectToServer();
      let deltas = 0;
      server.onMessage((message) => {
        ws.send(message);
        if (!dropped && typeof message === "string" && message.includes('"type":"delta"')) {
          deltas += 1;
          if (deltas === 3) {
            dropped = true;
            server.close({ code: 1001, reason: "test drop" });
            ws.close({ code: 4000, reason: "test drop" });
          }
        }
      });
    });
    const chat = new ChatPage(page);
    await chat.open();
    await chat.send("Give me a plan for this week");
    const answer = await chat.waitForAnswer();
    expect(dropped).toBe(true);
    expect(connections).toBeGreaterThanOrEqual(2);
    expect(answer).toBe(ANSWER);
    await screenshot(page, "chat-after-reconnect");
  });

  test("a failed answer shows an error with Retry, and Retry answers in the same chat", async ({ page, request }) => {
    const chat = new ChatPage(page);
    await chat.open();
    expect((await request.post(`${STUBS_API}/llm/fail-next`)).ok()).toBeTruthy();
    await chat.send("Plan my week");
    const error = chat.lastAnswer().getByTestId("turn-error");
    await expect(error).toBeVisible();
    await expect(error).toHaveAttribute("role", "alert");
    await screenshot(page, "chat-error-retry");
    await expect(page).toHaveURL(/\/chat\/[0-9a-f-]{36}$/);
    const sessionId = chat.currentSessionId();

    await error.getByTestId("retry").click();
    expect(await chat.waitForAnswer()).toBe(ANSWER);
    await expect(chat.lastAnswer().getByTestId("turn-error")).toHaveCount(0);
    await expect(page.getByTestId("retry")).toHaveCount(0);
    expect(chat.currentSessionId()).toBe(sessionId);
    await expect(chat.sessions).toHaveCount(1);

    // The history keeps both: the failed try (which can be retried) and the answer.
    await page.reload();
    await expect(chat.userTexts).toHaveText(["Plan my week", "Plan my week"]);
    await expect(chat.answers.first().getByTestId("retry")).toBeVisible();
    await expect(chat.answers.last().locator(".markdown")).toHaveText(ANSWER);
  });

  test("Stop ends the answer early", async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.open();
    await chat.send("Tell me everything about sleep");
    await expect(chat.lastAnswer().getByTestId("answer-text")).not.toBeEmpty();
    await page.getByTestId("stop").click();
    await expect(chat.lastAnswer()).toContainText("Stopped", { timeout: 10_000 });
    const text = (await chat.lastAnswer().locator(".markdown").innerText()).trim();
    expect(text.length).toBeLessThan(ANSWER.length);
  });

  test("the chat works on a phone-sized screen", async ({ page }) => {
    await page.setViewportSize({ width: 375, height: 740 });
    const chat = new ChatPage(page);
    await chat.open();
    await expect(page.locator("#sidebar")).not.toBeInViewport();
    await chat.send("Quick tip for today?");
    await chat.waitForAnswer();
    await screenshot(page, "chat-mobile");
    await page.getByTestId("sidebar-toggle").click();
    await expect(page.getByTestId("sidebar-toggle")).toHaveAttribute("aria-expanded", "true");
    await expect(chat.sessions).toHaveCount(1);
    // Wait for the slide-in to finish before looking.
    await expect.poll(async () => (await page.locator("#sidebar").boundingBox())?.x).toBe(0);
    await screenshot(page, "chat-mobile-sidebar");
    await chat.sessions.first().getByRole("link").click();
    await expect(page.getByTestId("sidebar-toggle")).toHaveAttribute("aria-expanded", "false");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(375);
  });

  test("long histories and many chats load page by page", async ({ page, request }) => {
    const chat = new ChatPage(page);
    await chat.open();
    // 35 turns in one chat, then 31 one-turn chats: more than a page (30) of each.
    await setModelPace(request, 0);
    let longId = "";
    try {
      const questions = Array.from({ length: 35 }, (_, i) => `Seeded question ${i + 1}`);
      longId = await seedTurns(page, questions);
      const others = Array.from({ length: 31 }, (_, i) => `Other chat ${i + 1}`);
      await seedTurns(page, others, { newSessionEach: true });
    } finally {
      await setModelPace(request, 60);
    }

    // The newest 30 turns come with the page; "Load older messages" brings the rest.
    await chat.open(`/chat/${longId}`);
    await expect(chat.userTexts).toHaveCount(30);
    await expect(chat.userTexts.first()).toHaveText("Seeded question 6");
    await expect(chat.userTexts.last()).toHaveText("Seeded question 35");
    await page.getByTestId("load-older").click();
    await expect(chat.userTexts).toHaveCount(35);
    await expect(chat.userTexts.first()).toHaveText("Seeded question 1");
    await expect(chat.userTexts.nth(5)).toHaveText("Seeded question 6");
    await expect(page.getByTestId("load-older")).toHaveCount(0);

    // The sidebar shows the newest 30 chats; "Load more" brings the other 2, none twice.
    await expect(chat.sessions).toHaveCount(30);
    await page.getByTestId("load-more-sessions").click();
    await expect(chat.sessions).toHaveCount(32);
    await expect(chat.session(longId)).toHaveCount(1);
    await expect(page.getByTestId("load-more-sessions")).toHaveCount(0);
  });
});

test("signed out, the chat redirects to sign-in", async ({ page }) => {
  const response = await page.goto("/chat");
  await expect(page).toHaveURL(/\/signin$/);
  expect(response?.ok()).toBeTruthy();
  await gotoHydrated(page, "/signin");
  await screenshot(page, "signin");
});

test.describe("length limit", () => {
  test.beforeEach(async ({ context, request }) => {
    await signUpByApi(context, new Mailbox(request), "cutoff");
  });

  test("an answer cut at the length limit says so, and Continue asks for the rest", async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.open();
    // The stub model stops with finish_reason "length" for this marker.
    await chat.send("Write me a very long plan [[length]]");
    await chat.waitForAnswer();
    await expect(chat.lastAnswer()).toContainText("Cut off at the length limit");
    await chat.lastAnswer().getByTestId("continue").click();
    await expect(chat.userTexts.last()).toHaveText("Please continue where you left off.");
    expect(await chat.waitForAnswer()).toBe(ANSWER);
    // Stored turns the live ones already show stay in the page, hidden.
    await expect(chat.answers.filter({ visible: true })).toHaveCount(2);
    // After a reload the stored turn still says so and still offers Continue.
    await page.reload();
    await expect(chat.answers.first()).toContainText("Cut off at the length limit");
    await expect(chat.answers.first().getByTestId("continue")).toBeVisible();
  });
});
