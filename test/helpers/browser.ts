import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

/** Debian's chromium package; the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Flags for a headless Chromium that can call: fake camera and microphone
 * (a test pattern and a beep), no permission prompt, and nothing that talks
 * to the outside network on its own.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // WebRTC keeps to loopback: no mDNS-obfuscated host candidates that a server could not resolve.
  '--disable-features=WebRtcHideLocalIpsWithMdns'
]

/** One Chromium with its own fresh profile directory; close() removes it. */
export class Browser {
  readonly context: BrowserContext
  readonly #dir: string
  readonly console: string[] = []

  private constructor (context: BrowserContext, dir: string) {
    this.context = context
    this.#dir = dir
  }

  static async launch (): Promise<Browser> {
    const dir = await mkdtemp(join(tmpdir(), 'hail-chromium-'))
    try {
      const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 60_000
      })
      return new Browser(context, dir)
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  /** A page at `url`, its console and uncaught errors kept in `console` for failure messages. */
  async open (url: string): Promise<Page> {
    const page = await this.context.newPage()
    // where a line came from (the script's URL), so a test can tell its pages apart
    page.on('console', (m) => this.console.push(`${m.type()}: ${m.text()}${m.location().url === '' ? '' : ` (at ${m.location().url})`}`))
    page.on('pageerror', (err) => this.console.push(`pageerror: ${err.message}`))
    await page.goto(url)
    return page
  }

  async close (): Promise<void> {
    try {
      await this.context.close()
    } finally {
      await rm(this.#dir, { recursive: true, force: true })
    }
  }
}
