import { expect, test } from "./support/fixtures";
import { ANSWER, ChatPage, Mailbox, gotoHydrated, screenshot, signUpByApi } from "./support/app";

// Grounded answers, regenerate and edit, and the memory card on the profile page.
test.describe("coach", () => {
  test.beforeEach(async ({ context, request }) => {
    await signUpByApi(context, new Mailbox(request), "coach");
  });

  test("sources under an answer, then regenerate and edit the last question", async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.open();
    await chat.send("How many rest days a week should a beginner take?");
    expect(await chat.waitForAnswer()).toBe(ANSWER);
    const sources = chat.lastAnswer().getByTestId("sources");
    await expect(sources).toBeVisible();
    const link = sources.locator("a").first();
    await expect(link).toHaveAttribute("href", /^https:\/\//);
    await expect(link).toHaveAttribute("rel", /noopener/);
    await expect(link).toHaveAttribute("target", "_blank");
    await screenshot(page, "sources");

    // Regenerate: the old turn goes once the new answer is complete; one turn is shown.
    const first = await chat.lastAnswer().locator("xpath=..").getAttribute("data-message-id");
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    await chat.lastAnswer().getByTestId("regenerate").click();
    // (The page may hold a hidden stored copy of a live turn too.)
    await expect(page.locator(`[data-message-id="${first}"]`).filter({ visible: true })).toHaveCount(0);
    await chat.waitForAnswer();
    await expect(chat.userTexts.filter({ visible: true })).toHaveCount(1);
    const second = await chat.lastAnswer().locator("xpath=..").getAttribute("data-message-id");
    expect(second).not.toBe(first);

    // Edit: the question comes back into the composer; sending replaces the turn.
    await chat.lastAnswer().getByTestId("edit").click();
    await expect(page.getByTestId("editing")).toBeVisible();
    await expect(chat.input).toHaveValue("How many rest days a week should a beginner take?");
    await chat.send("How many rest days should a beginner runner take?");
    await chat.waitForAnswer();
    await expect(page.getByTestId("editing")).toHaveCount(0);
    await expect(chat.userTexts.filter({ visible: true })).toHaveText(["How many rest days should a beginner runner take?"]);

    // The stored chat agrees after a reload, sources included.
    await page.reload();
    await expect(chat.userTexts.filter({ visible: true })).toHaveText(["How many rest days should a beginner runner take?"]);
    await expect(chat.answers.first().getByTestId("sources")).toBeVisible();
  });

  test("facts from a chat are remembered, and can be edited and deleted on the profile page", async ({ page }) => {
    const chat = new ChatPage(page);
    await chat.open();
    await chat.send("I have a bad left knee. How should I warm up?");
    await chat.waitForAnswer();

    // Learning runs just after the answer: reload the profile until the fact is there.
    const memories = page.getByTestId("memory");
    await expect(async () => {
      await gotoHydrated(page, "/profile");
      await expect(memories).toHaveCount(1, { timeout: 1_000 });
    }).toPass({ timeout: 10_000 });
    await expect(memories.first().getByTestId("memory-text")).toHaveText("I have a bad left knee.");

    await memories.first().getByTestId("memory-edit").click();
    await memories.first().getByTestId("memory-input").fill("I had left knee surgery in 2023");
    await memories.first().getByTestId("memory-save").click();
    await expect(memories.first().getByTestId("memory-text")).toHaveText("I had left knee surgery in 2023");

    // Markup typed into a fact is shown as text.
    const hostile = '<img src=x onerror="window.__pwned=1"> I train on Mondays';
    await page.getByTestId("memory-new").fill(hostile);
    await page.getByTestId("memory-add").click();
    await expect(memories).toHaveCount(2);
    await expect(memories.nth(1).getByTestId("memory-text")).toHaveText(hostile);
    await expect(page.getByTestId("memories").locator("img")).toHaveCount(0);
    await screenshot(page, "memories");

    await memories.first().getByTestId("memory-delete").click();
    await expect(memories).toHaveCount(1);
    await page.reload();
    await expect(memories).toHaveCount(1);
    await expect(memories.first().getByTestId("memory-text")).toHaveText(hostile);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });
});
