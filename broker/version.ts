import { readFileSync } from 'node:fs'

let cached: string | undefined

/**
 * Hail's version, from package.json: one level up from broker/version.ts (sources) and
 * two from dist/broker/version.js (the build); 'unknown' when neither is Hail's.
 */
export function hailVersion (): string {
  cached ??= read()
  return cached
}

function read (): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'hail' && pkg.version !== undefined) return pkg.version
    } catch {}
  }
  return 'unknown'
}
