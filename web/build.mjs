#!/usr/bin/env node
// Builds the web app (web/app/) into dist/web/public: one script and one
// stylesheet under assets/ with content hashes in their names (served as
// immutable), index.html naming them (served no-cache), the favicon, and a
// gzip copy of each text file. esbuild bundles the app, the client SDK,
// mqtt.js's browser build, Preact and uPlot; no source maps are shipped.
import { readdirSync, statSync } from 'node:fs'
import { mkdir, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const app = join(root, 'web', 'app')
const out = join(root, 'dist', 'web', 'public')

// `npm start` (prestart) builds only what changed: the bundle is fresh when its
// index.html is newer than every file it is made of (the app, the SDK, the wire
// types, the locked dependencies). Rebuilding removes dist/web/public first, so
// a needless rebuild would also pull the files from under a running server's feet.
if (process.argv.includes('--if-stale')) {
  const builtAt = await stat(join(out, 'index.html')).then((s) => s.mtimeMs, () => 0)
  const inputs = ['web/app', 'client', 'protocol'].flatMap((dir) => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map((f) => join(root, dir, f)))
  const newest = Math.max(...[...inputs, join(root, 'package-lock.json')].map((f) => statSync(f).mtimeMs))
  if (builtAt > newest) process.exit(0)
}

await rm(out, { recursive: true, force: true })
await mkdir(join(out, 'assets'), { recursive: true })

const result = await build({
  entryPoints: { app: join(app, 'main.tsx') },
  outdir: out,
  entryNames: 'assets/[name]-[hash]',
  assetNames: 'assets/[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: false,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' }
})

const outputs = Object.keys(result.metafile.outputs).map((f) => basename(f))
const js = outputs.find((f) => f.endsWith('.js'))
const css = outputs.find((f) => f.endsWith('.css'))
if (js === undefined || css === undefined) throw new Error(`web/build.mjs: expected one .js and one .css, got ${outputs.join(', ')}`)
const html = (await readFile(join(app, 'index.html'), 'utf8')).replace('{{js}}', js).replace('{{css}}', css)
await writeFile(join(out, 'index.html'), html)
await copyFile(join(app, 'favicon.svg'), join(out, 'favicon.svg'))

for (const name of ['index.html', 'favicon.svg', `assets/${js}`, `assets/${css}`]) {
  const body = await readFile(join(out, name))
  await writeFile(join(out, `${name}.gz`), gzipSync(body, { level: 9 }))
}
const sizes = await Promise.all([js, css].map(async (f) => `${f} ${Math.round((await readFile(join(out, 'assets', f))).length / 1024)} KiB`))
process.stdout.write(`web app: ${sizes.join(', ')}\n`)
