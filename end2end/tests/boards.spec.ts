import { test, expect } from "@playwright/test";
import { address, giveTheCardEverything, hydrated, newBoard, signIn, threadSays } from "./helpers";

test("a board: add cards, drag one to another column, move one from the keyboard menu, read the card's thread", async ({ page }) => {
  await signIn(page, address("dana"));
  await page.getByLabel("Team name").fill(`Board team ${Date.now()}`);
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByTestId("team-name")).toBeVisible();

  await page.getByLabel("New project").fill("Website");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByLabel("New board in Website").fill("Launch");
  await page.getByRole("button", { name: "Create board" }).click();
  await expect(page.getByTestId("board-name")).toHaveText("Launch");

  const column = (name: string) => page.locator(`[data-column="${name}"]`);
  for (const title of ["Fix login", "Write docs"]) {
    await column("To do").getByLabel("New card in To do").fill(title);
    await column("To do").getByRole("button", { name: "Add" }).click();
    await expect(column("To do").locator(`[data-card="${title}"]`)).toBeVisible();
    // The board re-renders with the new card; the field is ready for the next one.
    await expect(column("To do").getByLabel("New card in To do")).toBeFocused();
  }

  // Drag and drop with the pointer.
  await column("To do").locator('[data-card="Fix login"]').dragTo(column("Doing").locator(".cards"));
  await expect(column("Doing").locator('[data-card="Fix login"]')).toBeVisible();
  await expect(column("To do").locator('[data-card="Fix login"]')).toHaveCount(0);
  await page.reload();
  await hydrated(page);
  await expect(column("Doing").locator('[data-card="Fix login"]')).toBeVisible();

  // The same without a pointer: the card's "Move to" menu, reached with the keyboard.
  const menu = page.getByLabel("Move Write docs to");
  await menu.focus();
  await expect(menu).toBeFocused();
  await menu.selectOption({ label: "Done" });
  await expect(column("Done").locator('[data-card="Write docs"]')).toBeVisible();
  // The moved card's menu keeps the focus through the re-render (after the server's answer too).
  await expect(column("Done").getByLabel("Move Write docs to")).toBeFocused();
  await page.waitForTimeout(500);
  await expect(column("Done").getByLabel("Move Write docs to")).toBeFocused();
  await page.reload();
  await hydrated(page);
  await expect(column("Done").locator('[data-card="Write docs"]')).toBeVisible();

  // The card's thread tells its story (posted by the card-thread inbox, asynchronously).
  await column("Doing").locator('[data-card="Fix login"] a.title').click();
  await expect(page.getByTestId("card-title")).toHaveText("Fix login");
  await threadSays(page, "moved Fix login from To do to Doing");
  // The card's own activity, beside its thread.
  await expect(page.getByTestId("feed")).toContainText("added Fix login to To do");

  // A comment joins the thread; the commenter is subscribed.
  await hydrated(page);
  await page.getByLabel("Comment").fill("Looking into it");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await expect(page.getByTestId("thread")).toContainText("Looking into it");
  await expect(page.getByTestId("subscribers")).not.toBeEmpty();

  // Its author can edit it; the thread shows the new text.
  await page.getByTestId("thread").getByText("Edit", { exact: true }).click();
  await page.getByLabel("Edit comment").fill("Fixed on Safari too");
  await page.getByRole("button", { name: "Save comment" }).click();
  await expect(page.getByTestId("thread")).toContainText("Fixed on Safari too");
  await expect(page.getByTestId("thread")).not.toContainText("Looking into it");
});

test("bad input on the board gets the server's message and changes nothing", async ({ page }) => {
  await signIn(page, address("eli"));
  await page.getByLabel("Team name").fill(`Errors ${Date.now()}`);
  await page.getByRole("button", { name: "Create team" }).click();
  await page.getByLabel("New project").fill("P");
  await page.getByRole("button", { name: "Create project" }).click();
  // Rename it; an empty name is refused with the server's message.
  await page.locator('[data-project="P"]').getByText("Rename…").click();
  await page.getByLabel("New name for P").fill("Q");
  await page.getByRole("button", { name: "Rename project" }).click();
  await expect(page.getByTestId("projects")).toContainText("Q");
  await page.getByLabel("New board in Q").fill("B");
  await page.getByRole("button", { name: "Create board" }).click();
  await expect(page.getByTestId("board-name")).toHaveText("B");
  const todo = page.locator('[data-column="To do"]');
  await todo.getByLabel("New card in To do").fill("   ");
  await todo.getByRole("button", { name: "Add" }).click();
  await expect(page.getByTestId("board-error")).toContainText("title cannot be empty");
  await expect(todo.locator("[data-card]")).toHaveCount(0);
});

test("archive a card, find it under the board's archived cards and restore it; deleting asks first", async ({ page }) => {
  await newBoard(page, address("fay"), "Archive");
  const boardUrl = page.url();
  const todo = page.locator('[data-column="To do"]');
  for (const title of ["Old idea", "Spam"]) {
    await todo.getByLabel("New card in To do").fill(title);
    await todo.getByRole("button", { name: "Add" }).click();
    await expect(todo.locator(`[data-card="${title}"]`)).toBeVisible();
  }

  // A refused action's message goes as soon as another action starts.
  await todo.getByLabel("New card in To do").fill("   ");
  await todo.getByRole("button", { name: "Add" }).click();
  await expect(page.getByTestId("board-error")).toContainText("title cannot be empty");
  await page.getByText("Rename board…").click();
  await page.getByLabel("Board name").fill("Roadmap");
  await page.getByRole("button", { name: "Rename", exact: true }).click();
  await expect(page.getByTestId("board-name")).toHaveText("Roadmap");
  await expect(page.getByTestId("board-error")).toHaveCount(0);

  // Archive from the card's page: back on the board, the card is listed as archived.
  await todo.locator('[data-card="Old idea"] a.title').click();
  await hydrated(page);
  await page.getByRole("button", { name: "Archive" }).click();
  await expect(page).toHaveURL(boardUrl);
  await expect(todo.locator('[data-card="Old idea"]')).toHaveCount(0);
  const archived = page.getByTestId("archived-cards");
  await archived.getByText("Archived cards (1)").click();
  await archived.getByRole("link", { name: "Old idea" }).click();
  await hydrated(page);
  await expect(page.getByTestId("card-archived")).toBeVisible();
  await expect(page.getByRole("button", { name: "Move", exact: true })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Archive" })).toHaveCount(0);
  await page.getByRole("button", { name: "Restore to To do" }).click();
  await expect(page.getByTestId("card-archived")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Archive" })).toBeVisible();
  await threadSays(page, "restored Old idea to To do");
  await page.goto(boardUrl);
  await hydrated(page);
  await expect(todo.locator("[data-card]")).toHaveText([/Spam/, /Old idea/]);
  await expect(page.getByTestId("archived-cards")).toHaveCount(0);

  // Deleting is a second step, after a question.
  await todo.locator('[data-card="Spam"] a.title').click();
  await hydrated(page);
  const forGood = page.getByRole("button", { name: "Delete for good" });
  await expect(forGood).toBeHidden();
  await page.getByText("Delete…").click();
  await expect(page.getByText("Delete this card and its thread for good?")).toBeVisible();
  await forGood.click();
  await expect(page).toHaveURL(boardUrl);
  await expect(todo.locator('[data-card="Spam"]')).toHaveCount(0);
  await expect(todo.locator('[data-card="Old idea"]')).toBeVisible();
});

test("times on a card's thread and activity keep counting while the page stays open", async ({ page }) => {
  await newBoard(page, address("tim"), "Clock");
  const todo = page.locator('[data-column="To do"]');
  await todo.getByLabel("New card in To do").fill("Tick");
  await todo.getByRole("button", { name: "Add" }).click();
  await todo.locator('[data-card="Tick"] a.title').click();
  await expect(page.getByTestId("card-title")).toHaveText("Tick");

  // The browser's clock from here on is the test's to move.
  await page.clock.install();
  await page.reload();
  await hydrated(page);
  await page.getByLabel("Comment").fill("Hello");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  const comment = page.getByTestId("thread").locator("li.comment", { hasText: "Hello" });
  await expect(comment.locator("time")).toHaveText("just now");
  await expect(page.getByTestId("feed").locator("time").first()).toHaveText("just now");

  // Five minutes later, without a reload or a new event.
  await page.clock.fastForward("05:00");
  await expect(comment.locator("time")).toHaveText(/^[56] min ago$/);
  await expect(page.getByTestId("feed").locator("time").first()).toHaveText(/^[56] min ago$/);
});

test("a card on the board says at a glance who has it, when it is due (overdue in words), its status and its talk", async ({ page }) => {
  await newBoard(page, address("gus"), "Glance");
  const boardUrl = page.url();
  const todo = page.locator('[data-column="To do"]');
  await todo.getByLabel("New card in To do").fill("Fix login");
  await todo.getByRole("button", { name: "Add" }).click();
  const card = todo.locator('[data-card="Fix login"]');
  // A new card says nothing more than its title.
  await expect(card.locator(".meta")).toHaveCount(0);

  await card.locator("a.title").click();
  await hydrated(page);
  const me = await giveTheCardEverything(page);

  await page.goto(boardUrl);
  await hydrated(page);
  await expect(card.getByRole("img", { name: `Assigned to ${me}` })).toBeVisible();
  await expect(card.getByTestId("card-due")).toHaveText("Overdue · Jan 31");
  await expect(card.getByTestId("card-due")).toHaveClass(/warning/);
  await expect(card.getByTestId("card-status")).toHaveText("blocked");
  await expect(card.getByTestId("card-comments")).toHaveText("1 comment");
});
