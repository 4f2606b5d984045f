import { test, expect } from "@playwright/test";
import { address, hydrated, signIn } from "./helpers";

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
  await page.reload();
  await hydrated(page);
  await expect(column("Done").locator('[data-card="Write docs"]')).toBeVisible();

  // The card's thread tells its story (posted by the card-thread inbox, asynchronously).
  await column("Doing").locator('[data-card="Fix login"] a.title').click();
  await expect(page.getByTestId("card-title")).toHaveText("Fix login");
  await expect
    .poll(async () => {
      await page.reload();
      return (await page.getByTestId("thread").textContent()) ?? "";
    }, { timeout: 15_000 })
    .toContain("moved Fix login from To do to Doing");
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
