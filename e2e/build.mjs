// Bundles the test page (browser, IIFE) and the Playwright driver (Node, ESM) into dist/.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/page/media-page.ts'],
  outfile: 'dist/media-page.js',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'chrome120',
  sourcemap: 'inline',
  logLevel: 'warning',
});

await build({
  entryPoints: ['src/run-media-test.ts'],
  outfile: 'dist/run-media-test.mjs',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});

await build({
  entryPoints: ['src/run-web-test.ts'],
  outfile: 'dist/run-web-test.mjs',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});

console.log('built dist/media-page.js, dist/run-media-test.mjs and dist/run-web-test.mjs');
