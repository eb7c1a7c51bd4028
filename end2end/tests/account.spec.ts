import { expect, test } from "./support/fixtures";
import { AuthPages, Mailbox, PASSWORD, ProfilePage, gotoHydrated, screenshot, signUpByApi, uniqueEmail } from "./support/app";

test("sign up, verify, edit the profile, sign out, sign in again", async ({ page, request }) => {
  const mailbox = new Mailbox(request);
  const auth = new AuthPages(page);
  const email = uniqueEmail("account");

  // Sign up: the typed email travels to the verify step.
  await auth.signUp(email, PASSWORD);
  await expect(page).toHaveURL(/\/verify\?email=/);
  await expect(page.getByTestId("code-email")).toHaveText(email);
  await waitForInteractive(page);

  // A wrong code is reported inline, on the field.
  await auth.enterCode("000000");
  await expect(page.locator("#code")).toHaveAttribute("aria-invalid", "true");
  await screenshot(page, "verify-error");

  await auth.enterCode(await mailbox.code(email));
  await expect(page).toHaveURL(/\/chat$/);
  await expect(page.getByTestId("composer-input")).toBeVisible();
  await screenshot(page, "chat-empty");

  // The profile: an out-of-range age is caught inline first.
  await page.getByTestId("profile-link").click();
  await expect(page).toHaveURL(/\/profile$/);
  const profile = new ProfilePage(page);
  await profile.age.fill("7");
  await profile.save();
  await expect(profile.age).toHaveAttribute("aria-invalid", "true");
  await expect(profile.age).toHaveAttribute("aria-describedby", "age-error");
  await expect(page.locator("#age-error")).toContainText("between 13 and 120");
  await expect(profile.age).toBeFocused();
  await screenshot(page, "profile-error");

  await profile.age.fill("34");
  await page.getByLabel("Fitness level").selectOption("intermediate");
  await page.getByLabel("Goals").fill("Run a 10k\nSleep better");
  await profile.save();
  await expect(page.getByTestId("profile-status")).toHaveText("Profile saved.");
  await expect(profile.age).not.toHaveAttribute("aria-invalid", "true");
  await page.reload();
  await expect(profile.age).toHaveValue("34");
  await expect(page.getByLabel("Goals")).toHaveValue("Run a 10k\nSleep better");
  await screenshot(page, "profile");

  // Sign out, and the chat is closed to us.
  await waitForInteractive(page);
  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/signin$/);
  await page.goto("/chat");
  await expect(page).toHaveURL(/\/signin$/);

  // Sign in again: password, then a new code.
  await gotoHydrated(page, "/signin");
  await auth.signIn(email, PASSWORD);
  await expect(page).toHaveURL(/\/verify-signin\?email=/);
  await waitForInteractive(page);
  await mailbox.code(email, 1);
  // "Resend code" either mails a new code or, this soon after the last one, says when it
  // can (the server's cooldown, a 429 with Retry-After), inline.
  await page.getByTestId("resend-code").click();
  await expect(
    page.getByText(/A new code is on its way|Too many attempts\. Try again in \d+ s\./),
  ).toBeVisible();
  await auth.enterCode(await mailbox.code(email, 1));
  await expect(page).toHaveURL(/\/chat$/);
  await expect(page.getByTestId("composer-input")).toBeVisible();

  // Signed in, the home and auth pages send us back to the chat.
  await page.goto("/signin");
  await expect(page).toHaveURL(/\/chat$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/chat$/);
});

async function waitForInteractive(page: import("@playwright/test").Page) {
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
}

test("the profile page downloads all my data and deletes the account", async ({ page, request }) => {
  const mailbox = new Mailbox(request);
  const email = await signUpByApi(page.context(), mailbox, "rights");
  await gotoHydrated(page, "/profile");

  const download = page.waitForEvent("download");
  await page.getByTestId("export-data").click();
  const file = await (await download).path();
  const exported = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
  expect(exported.user.email).toBe(email);
  expect(Array.isArray(exported.messages)).toBeTruthy();

  // A wrong password deletes nothing and says so.
  const card = page.getByTestId("your-data");
  await card.getByLabel("Password").fill("not my password");
  await card.getByRole("button", { name: "Delete my account" }).click();
  await expect(card.getByTestId("form-error")).toContainText("password");

  await card.getByLabel("Password").fill(PASSWORD);
  await card.getByRole("button", { name: "Delete my account" }).click();
  await expect(page).toHaveURL(/\/signup/);
  const me = await page.context().request.get("/users/me");
  expect(me.status()).toBe(401);
});
