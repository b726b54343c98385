// The harness's first proof, until the pages land: Swagger UI at /docs/,
// served by the binary, loads in Chromium without console errors or failed
// requests, and lists the API's operations.
import assert from "node:assert/strict";
import { scenario, screenshot } from "./harness.mjs";

for (const device of ["desktop", "phone"]) {
  scenario(`Swagger UI at /docs/ loads at ${device} width`, async (s) => {
    const page = await s.open("/docs/", { device });
    await page.locator(".opblock").first().waitFor();
    assert.ok((await page.locator(".opblock").count()) > 20, "the operations are listed");
    await screenshot(page, `docs-${device}`);
  });
}
