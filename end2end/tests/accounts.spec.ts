import { test, expect } from "@playwright/test";

test("a team created on the start page appears at once and is still there after reload", async ({ page }) => {
  const name = `Team ${Date.now()}`;
  await page.goto("/");
  // Wait for the WebAssembly app to take over the server-rendered page.
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");

  await page.getByLabel("Team name").fill(name);
  await page.getByRole("button", { name: "Create team" }).click();

  const list = page.getByTestId("accounts");
  await expect(list.getByText(name, { exact: true })).toBeVisible();
  await expect(page.getByLabel("Team name")).toHaveValue("");

  await page.reload();
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByTestId("accounts").getByText(name, { exact: true })).toBeVisible();
});

test("an invalid team name shows the server's message without leaving the page", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  // Spaces pass the browser's `required` check but not the engine's.
  await page.getByLabel("Team name").fill("   ");
  await page.getByRole("button", { name: "Create team" }).click();
  await expect(page.getByTestId("create-error")).toHaveText("the account needs a name");
  await expect(page).toHaveURL(/\/$/);
});
