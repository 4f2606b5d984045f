import { test, expect } from "@playwright/test";
import { address, hydrated, newestMail, signIn } from "./helpers";

test("sign up, create a team, invite a teammate who joins from a second browser", async ({ page, browser }) => {
  const alice = address("alice");
  const bob = address("bob");
  const team = `Acme ${Date.now()}`;

  await signIn(page, alice);
  await page.getByLabel("Team name").fill(team);
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByTestId("team-name")).toHaveText(team);

  await page.getByTestId("members-link").click();
  const members = page.getByTestId("members");
  await expect(members.locator(`tr[data-member="${alice}"]`)).toContainText("owner");
  await page.getByLabel("E-mail address").fill(bob);
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.getByTestId("open-invitations")).toContainText(bob);

  // Bob, in a browser of his own, gets the mail, signs in and accepts.
  const bobContext = await browser.newContext();
  const bobPage = await bobContext.newPage();
  expect(await newestMail(bobPage, bob)).toContain("invited you to join");
  await signIn(bobPage, bob);
  const invitations = bobPage.getByTestId("my-invitations");
  await expect(invitations).toContainText(team);
  await invitations.getByRole("button", { name: "Join" }).click();
  await expect(bobPage.getByTestId("team-name")).toHaveText(team);
  await bobPage.getByTestId("members-link").click();
  await expect(bobPage.getByTestId("members").locator(`tr[data-member="${alice}"]`)).toBeVisible();
  await expect(bobPage.getByTestId("members").locator(`tr[data-member="${bob}"]`)).toContainText("member");
  // Members see the list but cannot invite.
  await expect(bobPage.getByRole("button", { name: "Send invitation" })).toHaveCount(0);
  await bobContext.close();

  // Alice sees Bob in her list after a reload.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId("members").locator(`tr[data-member="${bob}"]`)).toBeVisible();
  await expect(page.getByTestId("open-invitations")).toHaveCount(0);

  // The only owner cannot step down: the message, and the menu shows her role again.
  const aliceRow = page.getByTestId("members").locator(`tr[data-member="${alice}"]`);
  await aliceRow.locator("select").selectOption("member");
  await aliceRow.getByRole("button", { name: "Change" }).click();
  await expect(page.getByTestId("members-error")).toContainText("a team needs an owner");
  await expect(aliceRow.locator("select")).toHaveValue("owner");

  // Removing Bob asks first.
  const bobRow = page.getByTestId("members").locator(`tr[data-member="${bob}"]`);
  await bobRow.getByText("Remove…").click();
  await expect(page.getByTestId("members-error")).toContainText("a team needs an owner");
  await bobRow.getByRole("button", { name: /^Remove / }).click();
  await expect(bobRow).toHaveCount(0);
  await expect(page.getByTestId("members-error")).toHaveCount(0);
});

test("the e-mailed code signs in, and wrong input gets the server's message", async ({ page }) => {
  const cleo = address("cleo");
  await page.goto("/sign-in");
  await hydrated(page);
  await page.getByLabel("E-mail address").fill(cleo);
  await page.getByRole("button", { name: "E-mail me a sign-in link" }).click();
  await expect(page.getByTestId("check-email")).toContainText(cleo);
  const checkUrl = page.url();

  const mail = await newestMail(page, cleo);
  const code = mail.match(/code on the sign-in page: (\d{6})/)![1];
  const wrong = code === "000000" ? "111111" : "000000";

  await page.goto(checkUrl);
  await hydrated(page);
  await page.getByLabel("Code").fill(wrong);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("code-error")).toContainText("not right");
  await page.getByLabel("Code").fill(code);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("me")).toBeVisible();

  // Spaces pass the browser's `required` check but not the engine's.
  await page.getByLabel("Team name").fill("   ");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByTestId("create-error")).toHaveText("the account needs a name");
  await expect(page).toHaveURL(/\/$/);

  // A new name shows in the top bar at once.
  await page.getByLabel("Name teammates see").fill("Cleo Q");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByTestId("me")).toHaveText("Cleo Q");

  // A team the person is not in is a clear "not found".
  await page.goto("/no-such-team");
  await expect(page.getByTestId("page-error")).toContainText("team not found");
});

test("a page opened signed out leads back to itself after signing in", async ({ page }) => {
  const gus = address("gus");
  await signIn(page, gus);
  await page.getByLabel("Team name").fill(`Return ${Date.now()}`);
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByTestId("team-name")).toBeVisible();
  const activity = page.url().replace(/\/$/, "") + "/activity?who=mine";
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in$/);

  await page.goto(activity);
  await expect(page.getByTestId("page-error")).toBeVisible();
  await page.getByTestId("page-error").getByRole("link", { name: "Sign in" }).click();
  await hydrated(page);
  await page.getByLabel("E-mail address").fill(gus);
  await page.getByRole("button", { name: "E-mail me a sign-in link" }).click();
  await expect(page.getByTestId("check-email")).toContainText(gus);
  const mail = await newestMail(page, gus);
  const link = mail.match(/\/sign-in\/verify\?token=[A-Za-z0-9_-]+/)![0];
  await page.goto(link);
  await hydrated(page);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(activity);
  await expect(page.getByTestId("feed")).toBeVisible();
});
