// Runs the unit tests: bundles tests/*.test.ts with esbuild into .test-build/ (Node 20 cannot
// run TypeScript), then runs them with Node's built-in test runner. The tests cover the pure
// modules only (no DOM, no Phaser), so nothing is left external but Node's own modules.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";

const OUT = ".test-build";
const entries = readdirSync("tests").filter((f) => f.endsWith(".test.ts")).map((f) => `tests/${f}`);
if (!entries.length) throw new Error("no tests/*.test.ts files");

rmSync(OUT, { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: entries,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outdir: OUT,
  outExtension: { ".js": ".mjs" },
  sourcemap: "inline",
  logLevel: "warning",
  metafile: true,
});
const files = Object.keys(metafile.outputs).filter((f) => f.endsWith(".test.mjs"));
const run = spawnSync(process.execPath, ["--enable-source-maps", "--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(run.status ?? 1);
