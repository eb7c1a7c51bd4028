// Page objects and helpers shared by the specs. Pages are reached through `baseURL`
// only; the stubs' mail API is the one other origin (the test doubles' control plane).
import { expect, type APIRequestContext, type BrowserContext, type Locator, type Page } from "@playwright/test";
import * as path from "node:path";

export const STUBS_API = process.env.STUBS_API_URL || "http://127.0.0.1:8025";
/** The app's origin, as its pages send it (the config's baseURL). */
export const APP_ORIGIN = "http://127.0.0.1:8014";

/** The scripted model's answer (kept equal to `ANSWER` in server/devtools/src/bin/stubs.rs). */
export const ANSWER =
  "Start with three easy twenty-minute runs this week, keep the pace conversational, and add five minutes each week if you feel fresh.";

export const PASSWORD = "correct horse battery";

let counter = 0;
export function uniqueEmail(tag: string): string {
  counter += 1;
  return `e2e-${tag}-${Date.now()}-${counter}@example.com`;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(__dirname, "..", "..", "screenshots", `${name}.png`), fullPage: false });
}

/** Waits until the WASM bundle has hydrated the page (the app marks `<body>`). */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated]")).toBeAttached({ timeout: 15_000 });
}

/** Navigates and waits for the `.wasm` download and for hydration. */
export async function gotoHydrated(page: Page, url: string): Promise<void> {
  const wasm = page.waitForResponse((r) => r.url().endsWith(".wasm"), { timeout: 15_000 }).catch(() => null);
  await page.goto(url);
  await wasm;
  await waitForHydration(page);
}

/** The codes the SMTP sink received, through the stubs' API. */
export class Mailbox {
  constructor(private readonly request: APIRequestContext) {}

  /** The code of the newest mail to `email` once more than `after` mails have arrived. */
  async code(email: string, after = 0): Promise<string> {
    const url = `${STUBS_API}/mail/latest?to=${encodeURIComponent(email)}&after=${after}&wait_ms=10000`;
    const res = await this.request.get(url);
    expect(res.status(), `a mail to ${email}`).toBe(200);
    const body = await res.json();
    expect(body.code, `a 6-digit code in the mail to ${email}`).toMatch(/^\d{6}$/);
    return body.code as string;
  }
}

/** Sign-up and verification through the REST API, sharing the context's cookies. */
export async function signUpByApi(
  context: BrowserContext,
  mailbox: Mailbox,
  tag: string,
  origin = APP_ORIGIN,
): Promise<string> {
  const email = uniqueEmail(tag);
  // As the app's own pages would: with its Origin (cookie-carrying writes need it).
  const headers = { origin };
  const body = { data: { email, password: PASSWORD, name: "E2E" }, headers };
  const signup = await context.request.post(`${origin}/auth/signup`, body);
  expect(signup.ok(), await signup.text()).toBeTruthy();
  const code = await mailbox.code(email);
  const verify = await context.request.post(`${origin}/auth/verify-email`, { data: { email, code }, headers });
  expect(verify.ok(), await verify.text()).toBeTruthy();
  return email;
}

export class AuthPages {
  constructor(readonly page: Page) {}

  async signUp(email: string, password: string): Promise<void> {
    await gotoHydrated(this.page, "/signup");
    await this.page.getByLabel("Email").fill(email);
    await this.page.getByLabel("Password").fill(password);
    await this.page.getByLabel("Name (optional)").fill("Robin");
    await this.page.getByRole("button", { name: "Create account" }).click();
  }

  async signIn(email: string, password: string): Promise<void> {
    await this.page.getByLabel("Email").fill(email);
    await this.page.getByLabel("Password").fill(password);
    await this.page.getByLabel("Password").press("Enter");
  }

  async enterCode(code: string, button: "Verify" = "Verify"): Promise<void> {
    await this.page.getByLabel("Code").fill(code);
    await this.page.getByRole("button", { name: button }).click();
  }
}

export class ProfilePage {
  readonly age: Locator;
  constructor(readonly page: Page) {
    this.age = page.locator("#age");
  }

  async save(): Promise<void> {
    await this.page.getByRole("button", { name: "Save profile" }).click();
  }
}

export class ChatPage {
  readonly input: Locator;
  readonly sessions: Locator;
  readonly answers: Locator;
  readonly userTexts: Locator;

  constructor(readonly page: Page) {
    this.input = page.getByTestId("composer-input");
    this.sessions = page.getByTestId("session-item");
    this.answers = page.getByTestId("answer");
    this.userTexts = page.getByTestId("user-text");
  }

  async open(path = "/chat"): Promise<void> {
    await gotoHydrated(this.page, path);
    await expect(this.input).toBeVisible();
  }

  /** Types a message and sends it with Enter. */
  async send(text: string): Promise<void> {
    await this.input.fill(text);
    await this.input.press("Enter");
  }

  lastAnswer(): Locator {
    return this.answers.last();
  }

  /** Waits for the last answer to finish and returns its text. */
  async waitForAnswer(): Promise<string> {
    const answer = this.lastAnswer();
    await expect(answer.getByTestId("response-time")).toBeVisible({ timeout: 15_000 });
    return (await answer.locator(".markdown").innerText()).trim();
  }

  session(id: string): Locator {
    return this.page.locator(`[data-testid="session-item"][data-session-id="${id}"]`);
  }

  /** The session id in the URL (`/chat/{id}`). */
  currentSessionId(): string {
    const m = new URL(this.page.url()).pathname.match(/^\/chat\/([^/]+)$/);
    if (!m) throw new Error(`not on a chat URL: ${this.page.url()}`);
    return m[1];
  }

  /** Records the last answer's text length on every DOM change (call before sending). */
  async recordAnswerGrowth(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as { __lengths: number[] };
      w.__lengths = [];
      const list = document.querySelector('[data-testid="messages"]');
      if (!list) throw new Error("no message list");
      new MutationObserver(() => {
        const texts = document.querySelectorAll('[data-testid="answer-text"]');
        const last = texts[texts.length - 1];
        if (last) w.__lengths.push((last.textContent || "").length);
      }).observe(list, { subtree: true, childList: true, characterData: true });
    });
  }

  async answerLengths(): Promise<number[]> {
    return this.page.evaluate(() => (window as unknown as { __lengths: number[] }).__lengths);
  }
}

/** Sets the scripted model's pause between words (the stubs default is 60 ms; 0 answers at once). */
export async function setModelPace(request: APIRequestContext, delayMs: number): Promise<void> {
  const res = await request.post(`${STUBS_API}/llm/pace?delay_ms=${delayMs}`);
  expect(res.ok(), "the stubs accept a new pace").toBeTruthy();
}

/**
 * Asks `questions` over a socket of this page's own (the signed-in browser's cookies), one
 * after the other, each waiting for its stored answer. `sessionId` null starts a new
 * session for the first question; `newSessionEach` starts one per question. Returns the
 * last session id.
 */
export async function seedTurns(
  page: Page,
  questions: string[],
  options: { sessionId?: string | null; newSessionEach?: boolean } = {},
): Promise<string> {
  return page.evaluate(
    async ({ questions, sessionId, newSessionEach }) => {
      const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/chat/ws`);
      await new Promise((ok, fail) => {
        ws.onopen = ok;
        ws.onerror = () => fail(new Error("the seeding socket did not open"));
      });
      let current: string | null = sessionId;
      for (const message of questions) {
        const answered = new Promise<string>((ok, fail) => {
          ws.onmessage = (event) => {
            const frame = JSON.parse(event.data);
            if (frame.type === "response") ok(frame.session_id);
            if (frame.type === "error") fail(new Error(`${frame.code}: ${frame.message}`));
          };
        });
        ws.send(JSON.stringify({ message, session_id: newSessionEach ? null : current }));
        current = await answered;
      }
      ws.close();
      return current as string;
    },
    { questions, sessionId: options.sessionId ?? null, newSessionEach: options.newSessionEach ?? false },
  );
}
