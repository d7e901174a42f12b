// browser.mjs - a headless Debian chromium, driven by playwright-core, that
// takes its orders line by line on stdin and answers each with one JSON
// line on stdout. The test logic stays in Python (tests/integration/
// test_dashboard.py), beside the broker, daemon and simulators it drives;
// this is only the browser's hands and eyes (it lives in web/ for
// playwright-core in web/node_modules).
//
//   {"op": "goto", "url": U}                        open U (fresh profile)
//   {"op": "fill", "sel": S, "text": T}             type into an input
//   {"op": "click", "sel": S}
//   {"op": "check", "sel": S, "on": true}           tick / untick a checkbox
//   {"op": "wait", "sel": S, "text": T, "ms": N}    S visible (and containing T)
//   {"op": "text", "sel": S}                        its textContent
//   {"op": "eval", "js": "() => ..."}               run in the page, JSON result
//   {"op": "viewport", "w": W, "h": H}
//   {"op": "screenshot", "path": P, "full": bool}
//   {"op": "quit"}
//
// Answers: {"ok": true, "value": ...} or {"ok": false, "error": "..."}. Page
// errors and console errors are collected; "errors" returns them.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const profile = mkdtempSync(join(process.env.BROWSER_TMP || tmpdir(), "chromium-profile-"));
const ctx = await chromium.launchPersistentContext(profile, {
	executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
	headless: true,
	viewport: { width: 1100, height: 900 },
	args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = ctx.pages()[0] || (await ctx.newPage());
const errors = [];
page.on("pageerror", (e) => errors.push("pageerror: " + e.message));
page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
// the page must fetch nothing but itself and the broker
page.on("request", (r) => {
	const u = new URL(r.url());
	if (/^(https?|wss?):$/.test(u.protocol) && !/^(127\.0\.0\.1|localhost)$/.test(u.hostname))
		errors.push("external request: " + r.url());
});

async function run(cmd) {
	const ms = cmd.ms ?? 10000;
	switch (cmd.op) {
	case "goto":
		await page.goto(cmd.url, { waitUntil: "load", timeout: ms });
		return page.url();
	case "fill":
		await page.locator(cmd.sel).fill(cmd.text, { timeout: ms });
		return null;
	case "click":
		await page.locator(cmd.sel).click({ timeout: ms });
		return null;
	case "check":
		if (cmd.on) await page.locator(cmd.sel).check({ timeout: ms });
		else await page.locator(cmd.sel).uncheck({ timeout: ms });
		return null;
	case "wait": {
		let loc = page.locator(cmd.sel);
		if (cmd.text !== undefined) loc = loc.filter({ hasText: cmd.text });
		await loc.first().waitFor({ state: "visible", timeout: ms });
		return await loc.first().textContent();
	}
	case "text":
		return await page.locator(cmd.sel).first().textContent({ timeout: ms });
	case "eval":
		return await page.evaluate(`(${cmd.js})()`);
	case "viewport":
		await page.setViewportSize({ width: cmd.w, height: cmd.h });
		return null;
	case "screenshot":
		await page.screenshot({ path: cmd.path, fullPage: !!cmd.full });
		return cmd.path;
	case "errors":
		return errors.splice(0);
	case "quit":
		await ctx.close();
		rmSync(profile, { recursive: true, force: true });
		process.exit(0);
	}
	throw new Error("unknown op " + cmd.op);
}

const rl = createInterface({ input: process.stdin });
process.stdout.write(JSON.stringify({ ok: true, value: "ready" }) + "\n");
for await (const line of rl) {
	let reply;
	try {
		reply = { ok: true, value: await run(JSON.parse(line)) };
	} catch (e) {
		reply = { ok: false, error: String(e && e.message ? e.message : e).split("\n").slice(0, 6).join("\n") };
	}
	process.stdout.write(JSON.stringify(reply) + "\n");
}
await ctx.close();
rmSync(profile, { recursive: true, force: true });
