import { expect, test } from "./support/fixtures";
import { screenshot } from "./support/app";

test("the home page hydrates: the tips button is handled by the WASM bundle", async ({ page }) => {
  const wasm = page.waitForResponse((r) => r.url().endsWith(".wasm"));
  await page.goto("/");
  expect((await wasm).ok()).toBeTruthy();
  const toggle = page.getByTestId("tips-toggle");
  await expect(page.getByTestId("tips")).toHaveCount(0);

  // Until hydration finishes a click does nothing: retry it until the tips show.
  await expect(async () => {
    await toggle.click();
    await expect(page.getByTestId("tips")).toBeVisible({ timeout: 500 });
  }).toPass({ timeout: 15_000 });

  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await screenshot(page, "home");
});
