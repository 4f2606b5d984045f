import { expect, type Page } from "@playwright/test";

/** Waits until the WebAssembly app has taken over the server-rendered page. */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/** A fresh address per test run: the server's database lives for the whole run. */
export function address(name: string) {
  return `${name}.${Date.now()}${Math.floor(Math.random() * 1000)}@example.com`;
}

/** The newest mail to `email`, as the development mailbox shows it. */
export async function newestMail(page: Page, email: string) {
  await page.goto("/dev/mailbox");
  const body = page.locator(`li[data-recipient="${email}"] .body`).first();
  await expect(body).toBeVisible();
  return (await body.textContent()) ?? "";
}

/** Signs in (or up) through the real flow: the form, the mailbox, the link, the button. */
export async function signIn(page: Page, email: string) {
  await page.goto("/sign-in");
  await hydrated(page);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByRole("button", { name: "E-mail me a sign-in link" }).click();
  await expect(page.getByTestId("check-email")).toContainText(email);

  const mail = await newestMail(page, email);
  const link = mail.match(/\/sign-in\/verify\?token=[A-Za-z0-9_-]+/);
  expect(link, mail).not.toBeNull();
  await page.goto(link![0]);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("me")).toBeVisible();
}

/** Signs `email` in, creates a team named `team` (plus a timestamp) with project P and
 * board B, and leaves the page on the board. */
export async function newBoard(page: Page, email: string, team: string) {
  await signIn(page, email);
  await page.getByLabel("Team name").fill(`${team} ${Date.now()}`);
  await page.getByRole("button", { name: "Create team" }).click();
  await page.getByLabel("New project").fill("P");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByLabel("New board in P").fill("B");
  await page.getByRole("button", { name: "Create board" }).click();
  await expect(page.getByTestId("board-name")).toHaveText("B");
}

/** Waits until the card page's thread (reloaded until it does) contains `text`: the
 * card-thread inbox posts its notes asynchronously. */
export async function threadSays(page: Page, text: string) {
  await expect
    .poll(async () => {
      await page.reload();
      return (await page.getByTestId("thread").textContent()) ?? "";
    }, { timeout: 15_000 })
    .toContain(text);
}

/** On a card's page: assigns it to the signed-in person, sets a past due date
 * (2020-01-31), comments "On it" and sets the status to blocked, waiting for each. */
export async function giveTheCardEverything(page: Page) {
  const me = (await page.getByTestId("me").textContent())!.trim();
  await page.getByLabel("Assignee").selectOption({ label: me });
  await page.getByLabel("Due date").fill("2020-01-31");
  await page.getByRole("button", { name: "Save changes" }).click();
  await threadSays(page, "changed the");
  await page.getByLabel("Comment", { exact: true }).fill("On it");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await expect(page.getByTestId("thread")).toContainText("On it");
  await page.getByLabel("Status", { exact: true }).selectOption("blocked");
  await page.getByRole("button", { name: "Set status" }).click();
  await threadSays(page, "blocked");
  return me;
}
