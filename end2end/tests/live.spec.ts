import { test, expect } from "@playwright/test";
import { address, hydrated, newBoard, newestMail, signIn } from "./helpers";

test("Alice watches the board while Bob drags a card: she sees it move, live", async ({ page, browser }) => {
  const alice = address("alice");
  const bob = address("bob");
  const team = `Live ${Date.now()}`;

  // Alice: a team, a board with a card, and Bob invited.
  await signIn(page, alice);
  await page.getByLabel("Team name").fill(team);
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByTestId("team-name")).toHaveText(team);
  const teamUrl = page.url();
  await page.getByTestId("members-link").click();
  await page.getByLabel("E-mail address").fill(bob);
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.getByTestId("open-invitations")).toContainText(bob);
  await page.goto(teamUrl);
  await hydrated(page);
  await page.getByLabel("New project").fill("Website");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByLabel("New board in Website").fill("Launch");
  await page.getByRole("button", { name: "Create board" }).click();
  await expect(page.getByTestId("board-name")).toHaveText("Launch");
  const boardUrl = page.url();
  const todo = page.locator('[data-column="To do"]');
  await todo.getByLabel("New card in To do").fill("Fix login");
  await todo.getByRole("button", { name: "Add" }).click();
  await expect(todo.locator('[data-card="Fix login"]')).toBeVisible();

  // Alice's feed is live.
  await page.reload();
  await hydrated(page);
  const feed = page.getByTestId("feed");
  await expect(feed).toHaveAttribute("data-live", "connected");

  // Bob joins in his own browser and drags the card.
  const bobContext = await browser.newContext();
  const bobPage = await bobContext.newPage();
  expect(await newestMail(bobPage, bob)).toContain("invited you");
  await signIn(bobPage, bob);
  await bobPage.getByTestId("my-invitations").getByRole("button", { name: "Join" }).click();
  await expect(bobPage.getByTestId("team-name")).toHaveText(team);
  await bobPage.goto(boardUrl);
  await hydrated(bobPage);
  await bobPage
    .locator('[data-column="To do"] [data-card="Fix login"]')
    .dragTo(bobPage.locator('[data-column="Doing"] .cards'));
  await expect(bobPage.locator('[data-column="Doing"] [data-card="Fix login"]')).toBeVisible();

  // Alice, without reloading, sees it within 5 s: in her feed and on her board.
  await expect(feed.getByTestId("feed-items")).toContainText("moved Fix login from To do to Doing", { timeout: 5_000 });
  await expect(feed.getByTestId("feed-items").locator("li").first()).toContainText("moved Fix login");
  await expect(page.locator('[data-column="Doing"] [data-card="Fix login"]')).toBeVisible({ timeout: 5_000 });
  await expect(page.getByTestId("feed-announcer")).toContainText("moved Fix login");
  await bobContext.close();
});

test("the team's activity page filters by who and kind", async ({ page }) => {
  const cleo = address("cleo");
  await newBoard(page, cleo, "Filters");
  const todo = page.locator('[data-column="To do"]');
  await todo.getByLabel("New card in To do").fill("Alpha");
  await todo.getByRole("button", { name: "Add" }).click();
  await expect(todo.locator('[data-card="Alpha"]')).toBeVisible();

  const slug = new URL(page.url()).pathname.split("/")[1];
  await page.goto(`/${slug}/activity`);
  await hydrated(page);
  const items = page.getByTestId("feed-items");
  await expect(items).toContainText("added Alpha to To do");
  await expect(items).toContainText("created the team");

  await page.goto(`/${slug}/activity?types=card.created`);
  await hydrated(page);
  await expect(items).toContainText("added Alpha");
  await expect(items).not.toContainText("created the team");

  // One project's activity, from the team page.
  await page.goto(`/${slug}`);
  await hydrated(page);
  await page.getByRole("link", { name: "Project activity" }).click();
  await expect(page).toHaveURL(/activity\?project=/);
  await expect(items).toContainText("added Alpha");
  await expect(items).not.toContainText("created the team");

  await page.goto(`/${slug}/activity?who=team`);
  await hydrated(page);
  await expect(page.getByText("Nothing has happened here yet.")).toBeVisible();
});
