// The one helper every browser scenario imports (issue 19). It knows how the
// browser is started and what makes a page fail, so a scenario file only says
// what a person does and sees:
//
//   import { scenario, checkAxe, screenshot, registerUser } from "./harness.mjs";
//   scenario("the concert list at phone width", async (s) => {
//     const page = await s.open("/", { device: "phone", session: (await registerUser()).session });
//     await checkAxe(page);
//     await screenshot(page, "concerts-phone");
//   });
//
// - Debian's Chromium (/usr/bin/chromium) driven by playwright-core: one
//   browser per test file (node --test runs each file in its own process),
//   a fresh browser context (its own localStorage and cookies) per `s.open`.
// - Every page records console errors, page errors, failed requests and HTTP
//   answers >= 400 of the server's own origin; a scenario fails if any were
//   recorded, unless it named them in `expectProblems` (and then it fails if
//   an expected one did not happen) or `allowProblems`.
// - The server is started by scripts/browser/run.sh, which passes its address
//   in BOXOFFICE_BASE_URL and the screenshot folder in BOXOFFICE_SCREENSHOTS.
//   It serves `--demo` data with rate limits off; scenarios share it, so each
//   one makes its own users (`registerUser`) and never relies on a seat
//   another file may have taken.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BASE_URL, DEVICES, launchBrowser, ORIGIN, sessionState } from "./support.mjs";

export * from "./support.mjs";

/** Where `screenshot` writes its PNGs. */
export const SCREENSHOT_DIR =
  process.env.BOXOFFICE_SCREENSHOTS || mkdtempSync(join(tmpdir(), "boxoffice-screenshots-"));
mkdirSync(SCREENSHOT_DIR, { recursive: true });

let browserStarted;
/** This file's browser, started on first use. */
export function browser() {
  browserStarted ??= launchBrowser();
  return browserStarted;
}

after(async () => {
  if (browserStarted) await (await browserStarted).close();
});

/** A scenario that runs longer than this fails (node:test's timeout). */
const SCENARIO_TIMEOUT_MS = 90_000;

/**
 * Records what a person would call "the page is broken": console errors,
 * uncaught exceptions, requests that failed, and error answers of our origin.
 */
class ProblemLog {
  constructor(page, expected, allowed) {
    this.problems = [];
    this.expected = [...expected];
    this.allowed = [...allowed];
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const at = msg.location()?.url ? ` (at ${msg.location().url}:${msg.location().lineNumber})` : "";
      this.problems.push(`console error: ${msg.text()}${at}`);
    });
    page.on("pageerror", (err) => this.problems.push(`page error: ${err.stack || err.message}`));
    page.on("requestfailed", (req) => {
      const why = req.failure()?.errorText ?? "unknown";
      // ERR_ABORTED is the page itself cancelling (navigating away, an
      // AbortController, an EventSource it closed), not a failure.
      if (why === "net::ERR_ABORTED") return;
      this.problems.push(`request failed: ${req.method()} ${req.url()} (${why})`);
    });
    page.on("response", (res) => {
      if (res.status() >= 400 && new URL(res.url()).origin === ORIGIN) {
        this.problems.push(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
      }
    });
  }

  /** The recorded problems nobody expected or allowed, and the expected ones that never came. */
  unexplained() {
    const left = this.problems.filter((p) => !this.allowed.some((pattern) => pattern.test(p)));
    const missing = [];
    for (const pattern of this.expected) {
      const before = left.length;
      for (let i = left.length - 1; i >= 0; i--) if (pattern.test(left[i])) left.splice(i, 1);
      if (left.length === before) missing.push(`expected problem ${pattern} did not happen`);
    }
    return [...left, ...missing];
  }
}

/**
 * The problem lines an error answer the page is meant to get leaves: the
 * answer itself and Chromium's console line for it, e.g.
 * `expectProblems: errorAnswer(409, "/api/v1/checkins")`.
 */
export function errorAnswer(status, path = "") {
  const at = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return [
    new RegExp(`^HTTP ${status}: [A-Z]+ \\S*${at}`),
    new RegExp(`^console error: Failed to load resource: the server responded with a status of ${status}\\b.*${at}`),
  ];
}

const logs = new WeakMap();

/** Tells the page's log that `pattern` (a RegExp over its problem lines) is expected. */
export function expectProblem(page, pattern) {
  logs.get(page).expected.push(pattern);
}

/**
 * What a scenario gets: `open` pages in fresh contexts; on the way out every
 * page's problems are checked and every context closed.
 */
class Scenario {
  constructor(name) {
    this.name = name;
    this.contexts = [];
    this.pages = [];
  }

  /**
   * A new page in a fresh context (`device`: "desktop" or "phone"; `session`:
   * signed in before any page script runs; `expectProblems`: RegExps for
   * problem lines this page is meant to cause, each of which must happen;
   * `allowProblems`: RegExps for lines that may or may not happen, for what
   * the browser does on its own time; `beside`: an open page whose context,
   * with its sign-in, the new page shares, as a second tab would).
   * Navigates to `path` when given.
   */
  async open(path, { device = "desktop", session, expectProblems = [], allowProblems = [], beside } = {}) {
    const preset = DEVICES[device];
    assert.ok(preset, `unknown device ${device} (known: ${Object.keys(DEVICES).join(", ")})`);
    let context = beside?.context();
    if (!context) {
      context = await (await browser()).newContext({
        ...preset,
        baseURL: BASE_URL,
        storageState: session ? sessionState(session) : undefined,
      });
      this.contexts.push(context);
    }
    const page = await context.newPage();
    logs.set(page, new ProblemLog(page, expectProblems, allowProblems));
    this.pages.push(page);
    if (path !== undefined) await page.goto(path);
    return page;
  }

  /** Fails with every page's unexplained problems. */
  checkProblems() {
    const lines = this.pages.flatMap((page, i) => logs.get(page).unexplained().map((p) => `page ${i + 1} (${page.url()}): ${p}`));
    assert.deepEqual(lines, [], `the pages had problems:\n  ${lines.join("\n  ")}`);
  }

  async close(failed) {
    if (failed) {
      for (const [i, page] of this.pages.entries()) {
        if (page.isClosed()) continue;
        await screenshot(page, `FAILED-${slug(this.name)}-${i + 1}`).catch(() => {});
      }
    }
    for (const context of this.contexts) await context.close().catch(() => {});
  }
}

/**
 * A browser scenario: node:test's `test` with a fresh `Scenario` whose pages
 * must end without problems. A failure saves a FAILED-… screenshot of each page.
 */
export function scenario(name, fn, { timeoutMs = SCENARIO_TIMEOUT_MS } = {}) {
  test(name, { timeout: timeoutMs }, async (t) => {
    const s = new Scenario(name);
    try {
      await fn(s, t);
      s.checkProblems();
    } catch (err) {
      const problems = s.pages.flatMap((page) => logs.get(page).problems);
      if (problems.length) t.diagnostic(`problems recorded:\n${problems.join("\n")}`);
      await s.close(true);
      throw err;
    }
    await s.close(false);
  });
}

const require = createRequire(import.meta.url);
let axeSource;

/**
 * Runs axe-core on the page as it is now and fails on serious or critical
 * violations, listing them; returns every violation (minor ones included) for
 * the caller to report. `options` go to `axe.run` (e.g. `{ rules: {...} }`).
 */
export async function checkAxe(page, options = {}) {
  axeSource ??= readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  // Evaluated through the DevTools protocol, so the page's own
  // Content-Security-Policy does not have to allow an injected script.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (opts) => {
    const result = await window.axe.run(document, { resultTypes: ["violations"], ...opts });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")),
    }));
  }, options);
  const blocking = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const describe = (v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}: ${v.nodes.slice(0, 5).join(", ")})`;
  // The minor and moderate ones pass, but are shown in the run's output for the record.
  for (const v of violations) if (!blocking.includes(v)) console.log(`axe on ${new URL(page.url()).pathname}: ${describe(v)}`);
  assert.deepEqual(
    blocking.map(describe),
    [],
    `axe-core found serious or critical violations on ${page.url()}:\n  ${blocking.map(describe).join("\n  ")}`,
  );
  return violations;
}

/** Touch targets' least size at phone width (Apple's 44 pt, WCAG 2.5.5's 44 px). */
export const TOUCH_TARGET_PX = 44;

/**
 * Fails unless every visible control (links, buttons, fields, anything
 * focusable) is at least TOUCH_TARGET_PX wide and high. Links inside a line
 * of text (display: inline) are sized by that text and left out, as WCAG
 * 2.5.8 leaves them out. `exclude`: a CSS selector for targets judged
 * otherwise (a seat map's seats, say, with its own zoom). Returns how many
 * targets were measured.
 */
export async function checkTouchTargets(page, { exclude = null } = {}) {
  const { measured, small } = await page.evaluate(
    ({ exclude, touchPx }) => {
      const selector = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [role="button"], [role="link"], [tabindex]:not([tabindex="-1"])';
      const small = [];
      let measured = 0;
      for (const el of document.querySelectorAll(selector)) {
        if (exclude && el.matches(exclude)) continue;
        const box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        // Not shown, parked off-screen until focused (a skip link), or a link in a line of text.
        if (box.width < 2 || box.height < 2 || style.visibility === "hidden" || box.right <= 0 || box.bottom <= 0) continue;
        if (style.display === "inline" && el.tagName === "A") continue;
        measured += 1;
        if (box.width < touchPx || box.height < touchPx) {
          const name = (el.getAttribute("aria-label") || el.textContent || el.getAttribute("name") || "").trim().slice(0, 40);
          small.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""} "${name}" ${box.width.toFixed(0)}x${box.height.toFixed(0)}`);
        }
      }
      return { measured, small };
    },
    { exclude, touchPx: TOUCH_TARGET_PX },
  );
  assert.deepEqual(small, [], `targets smaller than ${TOUCH_TARGET_PX} px on ${page.url()}:\n  ${small.join("\n  ")}`);
  return measured;
}

/**
 * Saves a PNG of the whole page (or only the viewport, `fullPage: false`) as
 * `<SCREENSHOT_DIR>/<name>.png`; returns its path.
 */
export async function screenshot(page, name, { fullPage = true } = {}) {
  const path = join(SCREENSHOT_DIR, `${slug(name)}.png`);
  await page.screenshot({ path, fullPage, animations: "disabled", caret: "hide" });
  return path;
}

function slug(text) {
  return text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "");
}

