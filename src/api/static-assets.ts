/**
 * Files the browser pages need, served from our own dependencies and src/api/web: nothing is
 * loaded from a CDN, so the playground and the search page work with no internet.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const webDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'web');

function packageFile(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file);
}

/** URL path -> [file, content type]. */
const ASSETS: Record<string, [string, string]> = {
  '/assets/react.js': [packageFile('react', 'umd/react.production.min.js'), 'text/javascript'],
  '/assets/react-dom.js': [packageFile('react-dom', 'umd/react-dom.production.min.js'), 'text/javascript'],
  '/assets/graphiql.js': [packageFile('graphiql', 'dist/index.umd.js'), 'text/javascript'],
  '/assets/graphiql.css': [packageFile('graphiql', 'dist/style.css'), 'text/css'],
  '/assets/playground.js': [path.join(webDir, 'playground.js'), 'text/javascript'],
  '/': [path.join(webDir, 'index.html'), 'text/html; charset=utf-8'],
  '/assets/app.js': [path.join(webDir, 'app.js'), 'text/javascript'],
  '/assets/api.js': [path.join(webDir, 'api.js'), 'text/javascript'],
  '/assets/messages.js': [path.join(webDir, 'messages.js'), 'text/javascript'],
  '/assets/render.js': [path.join(webDir, 'render.js'), 'text/javascript'],
  '/assets/app.css': [path.join(webDir, 'app.css'), 'text/css'],
  '/assets/describe.js': [path.join(webDir, 'describe.js'), 'text/javascript'],
  '/assets/describe.css': [path.join(webDir, 'describe.css'), 'text/css'],
  '/graphql#playground': [path.join(webDir, 'playground.html'), 'text/html; charset=utf-8'],
};

const cache = new Map<string, Buffer>();

/** The asset for a path, or undefined. Read once, then served from memory. */
export async function loadAsset(urlPath: string): Promise<{ body: Buffer; type: string } | undefined> {
  const entry = ASSETS[urlPath];
  if (!entry) return undefined;
  const [file, type] = entry;
  let body = cache.get(file);
  if (!body) {
    body = await readFile(file);
    cache.set(file, body);
  }
  return { body, type };
}
