// Two tabs on two instances of the server that share one database, as a load balancer
// without sticky sessions would place them: what one tab does shows in the other, and a
// chat answering through one instance is busy through the other.
import { expect, test } from "./support/fixtures";
import { ANSWER, ChatPage, Mailbox, gotoHydrated, setModelPace, signUpByApi } from "./support/app";

const A = "http://127.0.0.1:8016";
const B = "http://127.0.0.1:8017";

test.describe("two instances", () => {
  test.afterEach(async ({ request }) => {
    await setModelPace(request, 60);
  });

  test("two tabs on two instances share sessions, and one answer runs per chat", async ({ context, request }) => {
    await signUpByApi(context, new Mailbox(request), "instances", A);
    const onA = new ChatPage(await context.newPage());
    const onB = new ChatPage(await context.newPage());
    await gotoHydrated(onA.page, `${A}/chat`);
    await gotoHydrated(onB.page, `${B}/chat`);

    // A chat started through A appears in B's sidebar (the change stream, not a reload).
    await onA.send("How should I start running?");
    expect(await onA.waitForAnswer()).toBe(ANSWER);
    const sessionId = onA.currentSessionId();
    await expect(onB.session(sessionId)).toBeVisible();

    // B continues it: the history is there and B answers the follow-up.
    await onB.session(sessionId).getByRole("link").click();
    await expect(onB.userTexts.first()).toHaveText("How should I start running?");
    await onB.send("And how often?");
    expect(await onB.waitForAnswer()).toBe(ANSWER);

    // While A answers slowly, the same chat through B is busy.
    await setModelPace(request, 250);
    await onA.page.reload();
    await expect(onA.userTexts).toHaveCount(2);
    await onA.send("A slow one, please");
    await expect(onA.lastAnswer().getByTestId("answer-text")).not.toBeEmpty();
    await onB.send("Me too!");
    await expect(onB.page.getByTestId("turn-error").last()).toContainText("still answering");
    await setModelPace(request, 0);
    await onA.waitForAnswer();

    // Renamed through B, renamed in A.
    await onB.session(sessionId).getByTestId("rename-session").click();
    const title = onB.session(sessionId).getByTestId("rename-input");
    await title.fill("Running plan");
    await title.press("Enter");
    await expect(onA.session(sessionId)).toContainText("Running plan");
  });
});
