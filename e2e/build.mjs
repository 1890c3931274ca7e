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

// The Node drivers, one per test.
for (const name of ['media', 'web', 'screens', 'cluster']) {
  await build({
    entryPoints: [`src/run-${name}-test.ts`],
    outfile: `dist/run-${name}-test.mjs`,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
}

console.log('built dist/media-page.js and the drivers dist/run-{media,web,screens,cluster}-test.mjs');
