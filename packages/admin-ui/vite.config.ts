import { gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { defineConfig } from 'vite';

/** The budget for everything the browser downloads, compressed. */
const GZIP_BUDGET_BYTES = 250_000;

/** Prints the bundle's total size, raw and gzip, and fails the build when it is over the budget. */
function reportBundleSize(): Plugin {
  return {
    name: 'auditrum-bundle-size',
    apply: 'build',
    generateBundle(_options, bundle) {
      let raw = 0;
      let gzip = 0;
      for (const file of Object.values(bundle)) {
        const content = file.type === 'chunk' ? file.code : file.source;
        const bytes = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content);
        raw += bytes.length;
        gzip += gzipSync(bytes, { level: 9 }).length;
      }
      const kB = (n: number) => `${(n / 1000).toFixed(1)} kB`;
      console.log(`admin-ui bundle: ${kB(raw)} raw, ${kB(gzip)} gzip (budget ${kB(GZIP_BUDGET_BYTES)} gzip)`);
      if (gzip > GZIP_BUDGET_BYTES) this.error(`the admin bundle is ${kB(gzip)} gzip, over the budget`);
    },
  };
}

// Assets are referenced relatively ('./'): the adapters serve the bundle under any base path chosen at run
// time, and inject `<base href>` and `window.__AUDITRUM_ADMIN__` into index.html when they serve it.
export default defineConfig({
  base: './',
  plugins: [react(), reportBundleSize()],
  build: { outDir: 'dist', emptyOutDir: true },
});
