// Builds the web client into dist/, which the server embeds and serves at /.
// The output must be byte-for-byte reproducible from the sources and package-lock.json:
// CI rebuilds it and fails if dist/ differs from what is committed.
//
// The entry (app.js) holds the account and world-browser screens; the world view (Phaser,
// mediasoup-client) is a separate chunk loaded on entering a world, so the first page is small.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await build({
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  splitting: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  outdir: "dist",
  chunkNames: "chunks/[name]-[hash]",
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
copyFileSync("static/index.html", "dist/index.html");
const css = ["static/style.css", "static/manage.css", "static/game.css"].map((f) => readFileSync(f, "utf8")).join("\n");
writeFileSync("dist/style.css", css);
