import { test, expect, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { address, giveTheCardEverything, hydrated, newBoard } from "./helpers";

/** Runs axe-core on the page as it stands; fails on any serious or critical violation
 * of WCAG 2.x A/AA, naming the rule and the elements. */
async function noSeriousViolations(page: Page, where: string) {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  expect(results.passes.length, `${where}: axe checked nothing`).toBeGreaterThan(0);
  const serious = results.violations.filter(
    (v) => v.impact === "serious" || v.impact === "critical",
  );
  const report = serious
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).join("\n    ")}`)
    .join("\n");
  expect(serious, `${where}\n${report}`).toEqual([]);
}

test("every page passes the accessibility check in light and dark, and fits 375 and 1280 px", async ({ page }) => {
  test.setTimeout(180_000);
  // The pages, with the data a real team has: a board with a card that has an assignee,
  // a due date, a comment and a status.
  await newBoard(page, address("axe"), "Axe");
  const board = page.url();
  const todo = page.locator('[data-column="To do"]');
  await todo.getByLabel("New card in To do").fill("Fix login");
  await todo.getByRole("button", { name: "Add" }).click();
  await todo.getByRole("link", { name: "Fix login" }).click();
  await hydrated(page);
  const card = page.url();
  // Everything a card can show on the board: assignee, an overdue date, a comment, a status.
  await giveTheCardEverything(page);
  const team = new URL(board).pathname.split("/")[1];
  const pages = [
    ["home", "/"],
    ["team", `/${team}`],
    ["activity", `/${team}/activity`],
    ["members", `/${team}/members`],
    ["board", new URL(board).pathname],
    ["card", new URL(card).pathname],
  ];

  for (const scheme of ["light", "dark"] as const) {
    for (const width of [375, 1280]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: 900 });
      for (const [name, path] of pages) {
        await page.goto(path);
        await hydrated(page);
        await noSeriousViolations(page, `${name} (${scheme}, ${width} px)`);
        // Nothing wider than the screen: the page never scrolls sideways (the board
        // scrolls its columns inside itself).
        const pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
        expect(pageWidth, `${name} at ${width} px is ${pageWidth} px wide`).toBeLessThanOrEqual(width);
      }
    }
  }
  // And the sign-in page, signed out.
  await page.context().clearCookies();
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto("/sign-in");
    await hydrated(page);
    await noSeriousViolations(page, `sign-in (${scheme})`);
  }
});

test("a person's theme choice overrides the system's and survives a reload", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto("/sign-in");
  await hydrated(page);
  const background = () =>
    page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await background();
  await page.getByTestId("theme").selectOption("dark");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  const dark = await background();
  expect(dark).not.toEqual(light);
  await page.reload();
  // Applied before hydration, by the script in <head>.
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  expect(await background()).toEqual(dark);
  await hydrated(page);
  await expect(page.getByTestId("theme")).toHaveValue("dark");
  await page.getByTestId("theme").selectOption("system");
  await expect(page.locator("html")).not.toHaveAttribute("data-theme", /.+/);
  expect(await background()).toEqual(light);
});
