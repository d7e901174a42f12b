// build.mjs - `make web`: bundle the dashboard into ../build/web (or $WEB_OUT)
// with esbuild, copy index.html, print the gzipped size. Nothing is fetched
// at run time: mqtt.js and uPlot are inside app.js.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.WEB_OUT || join(here, "..", "build", "web");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await esbuild.build({
	entryPoints: { app: join(here, "src", "app.js") },
	bundle: true,
	minify: true,
	format: "iife",
	target: ["es2020"],
	outdir: out,
	legalComments: "linked",
	logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
let raw = 0, gz = 0;
for (const f of readdirSync(out)) {
	const data = readFileSync(join(out, f));
	raw += data.length;
	if (!f.endsWith(".txt")) gz += gzipSync(data, { level: 9 }).length;
}
console.log(`web: ${out}: ${(raw / 1024).toFixed(0)} KB, ${(gz / 1024).toFixed(0)} KB gzipped (page, script, styles)`);
