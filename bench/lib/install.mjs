// The peers the bench runs come from Debian: installed with apt-get when missing.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Thrown when a broker cannot run on this machine; the cell then reports n/a with this message. */
export class NotApplicable extends Error {}

/**
 * Install Debian package `pkg` when `path` is missing (as root; otherwise n/a).
 * Tries without `apt-get update` first: a machine that ran it recently needs no network for the index.
 * @param {string} pkg @param {string} path a file the package provides
 * @returns {boolean} whether it installed the package now
 */
export function ensurePackage (pkg, path) {
  if (existsSync(path)) return false
  if (process.getuid?.() !== 0) throw new NotApplicable(`n/a: ${path} is missing and the bench is not root: apt-get install ${pkg}`)
  process.stderr.write(`bench: installing ${pkg} with apt-get\n`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () => execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: ['ignore', 'inherit', 'inherit'], env })
  try {
    install()
  } catch {
    execFileSync('apt-get', ['update'], { stdio: ['ignore', 'inherit', 'inherit'] })
    install()
  }
  if (!existsSync(path)) throw new NotApplicable(`n/a: apt-get install ${pkg} did not provide ${path}`)
  return true
}
