import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { AdminResponse } from './admin-http.js';
import { withCommonHeaders } from './admin-http.js';
import type { AdminClientConfig } from './api-types.js';
import { notFound } from './errors.js';

const gzip = promisify(gzipCallback);

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Text types, worth compressing. */
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg)/;

/** Vite names files under assets/ by content hash, so they never change under one URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** JSON that can sit inside a <script> element: no `</script>`, `<!--`, and no line separators that old parsers split on. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`,
  );
}

function escapeAttribute(text: string): string {
  return text.replace(/[&"'<>]/g, (c) => `&#${c.codePointAt(0)};`);
}

/** `/audit-admin/` → `/audit-admin`; `` and `/` → `` (mounted at the root). */
export function normaliseBasePath(basePath: string): string {
  return basePath.replace(/\/+$/, '').replace(/^(?!\/)(?=.)/, '/');
}

/**
 * index.html with the base element and the client configuration first in <head>, so that relative asset URLs
 * and client-side routes resolve under the base path the browser sees. Also returns the config script's hash
 * for the Content-Security-Policy.
 */
export function renderIndexHtml(
  template: string,
  basePath: string,
  client: Omit<AdminClientConfig, 'basePath'> = { apiLog: true },
): { html: string; scriptHash: string } {
  const base = normaliseBasePath(basePath);
  const config: AdminClientConfig = { basePath: base, ...client };
  const script = `window.__AUDITRUM_ADMIN__ = ${scriptSafeJson(config)}`;
  const scriptHash = createHash('sha256').update(script, 'utf8').digest('base64');
  const injected = `<base href="${escapeAttribute(`${base}/`)}"><script>${script}</script>`;
  const withoutBase = template.replace(/<base\b[^>]*>/gi, '');
  const head = /<head\b[^>]*>/i.exec(withoutBase);
  const html = head
    ? `${withoutBase.slice(0, head.index + head[0].length)}${injected}${withoutBase.slice(head.index + head[0].length)}`
    : `${injected}${withoutBase}`;
  return { html, scriptHash };
}

/** Serves the built UI: index.html for the root and client-side routes, files under assets/, nothing else. */
export class UiAssets {
  readonly #root: string | undefined;
  #template: Promise<string | undefined> | undefined;
  readonly #gzipCache = new Map<string, Promise<Buffer>>();

  constructor(dir: string | undefined) {
    this.#root = dir === undefined ? undefined : resolve(dir);
  }

  /** index.html, with the base path and the rest of the client's configuration injected. */
  async index(basePath: string, client: Omit<AdminClientConfig, 'basePath'>): Promise<AdminResponse> {
    const template = await this.#loadTemplate();
    if (template === undefined) {
      return {
        status: 503,
        headers: withCommonHeaders({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }),
        body: 'The Auditrum admin UI is not built: run `pnpm --filter @auditrum/admin-ui build` (or give assetsDir). The JSON API is under api/.\n',
      };
    }
    const { html, scriptHash } = renderIndexHtml(template, basePath, client);
    return {
      status: 200,
      headers: withCommonHeaders({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
        'referrer-policy': 'no-referrer',
        // Audited values are data, rendered as text; the policy is a second line of defence.
        'content-security-policy': `default-src 'self'; script-src 'self' 'sha256-${scriptHash}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'`,
        'x-frame-options': 'DENY',
      }),
      body: html,
    };
  }

  /**
   * A file under assets/. `segments` are the percent-decoded path segments after `assets/`; any segment that is
   * empty, `.`, `..`, or holds a separator or NUL is refused, and the resolved path must stay inside assets/.
   */
  async asset(segments: readonly string[], acceptsGzip: boolean): Promise<AdminResponse> {
    const missing = notFound('no such asset');
    if (this.#root === undefined) throw missing;
    if (segments.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..' || /[\\/\0]/.test(s))) {
      throw missing;
    }
    const assetsRoot = resolve(this.#root, 'assets');
    const file = resolve(assetsRoot, ...segments);
    if (!file.startsWith(assetsRoot + sep)) throw missing;
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw missing;
    const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const headers = withCommonHeaders({ 'content-type': type, 'cache-control': IMMUTABLE });
    if (!COMPRESSIBLE.test(type)) return { status: 200, headers, body: await readFile(file) };
    headers.vary = 'Accept-Encoding';
    if (!acceptsGzip) return { status: 200, headers, body: await readFile(file) };
    return { status: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body: await this.#gzipped(file) };
  }

  /** The UI's script is about 290 kB and 90 kB gzipped; files under assets/ never change, so each is compressed once. */
  #gzipped(file: string): Promise<Buffer> {
    let compressed = this.#gzipCache.get(file);
    if (compressed === undefined) {
      compressed = readFile(file).then((content) => gzip(content, { level: 9 }));
      compressed.catch(() => this.#gzipCache.delete(file));
      this.#gzipCache.set(file, compressed);
    }
    return compressed;
  }

  #loadTemplate(): Promise<string | undefined> {
    // Read once; a failed read (no build yet) is retried on the next request.
    this.#template ??=
      this.#root === undefined
        ? Promise.resolve(undefined)
        : readFile(resolve(this.#root, 'index.html'), 'utf8').catch(() => {
            this.#template = undefined;
            return undefined;
          });
    return this.#template;
  }
}
