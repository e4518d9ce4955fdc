import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { Page } from 'playwright-core'
import { HailClient } from '../../client/index.js'
import { Browser } from './browser.js'
import { Daemon, HAIL_BIN, addUser } from './daemon.js'

/** Where the browser tests put their screenshots (phone and desktop width of each step). */
export const SCREENSHOTS = process.env.HAIL_SCREENSHOTS ?? fileURLToPath(new URL('../../.tap/screenshots/', import.meta.url))

export const PHONE = { width: 390, height: 844 }
export const DESKTOP = { width: 1280, height: 800 }

export interface WebDaemon {
  daemon: Daemon
  /** http://127.0.0.1:PORT */
  base: string
  mqttUrl: string
  dir: string
}

/**
 * A real `hail` daemon for the app's browser tests, with these users
 * (password: `${name}-pw`), a media port range of its own, and extra
 * config-file settings.
 */
export async function startWebDaemon (t: Test, options: { users: string[], admins?: string[], config?: string, args?: string[] }): Promise<WebDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-web-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const data = join(dir, 'data')
  for (const user of options.users) await addUser(data, user, `${user}-pw`)
  for (const admin of options.admins ?? []) await adminOn(data, admin)
  const args = ['--data', data]
  if (options.config !== undefined) {
    await writeFile(join(dir, 'hail.yaml'), options.config)
    args.push('--config', join(dir, 'hail.yaml'))
  }
  const portMin = 42000 + Math.floor(Math.random() * 60) * 100
  const { daemon, addresses } = await Daemon.start([...args, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1',
    '--media-port-min', String(portMin), '--media-port-max', String(portMin + 99), '--media-announce', '127.0.0.1', ...(options.args ?? [])])
  t.teardown(() => daemon.stop())
  return { daemon, base: `http://127.0.0.1:${addresses.http!.port}`, mqttUrl: `mqtt://127.0.0.1:${addresses.mqtt!.port}`, dir }
}

async function adminOn (dataDir: string, name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => execFile(process.execPath, [HAIL_BIN, 'user', 'admin', name, 'on', '--data', dataDir], (err) => err ? reject(err) : resolve()))
}

/** One person in their own Chromium (a separate profile), on the app's page. */
export class AppUser {
  readonly name: string
  readonly browser: Browser
  page: Page

  private constructor (name: string, browser: Browser, page: Page) {
    this.name = name
    this.browser = browser
    this.page = page
  }

  static async open (t: Test, base: string, name: string, path = '/'): Promise<AppUser> {
    const browser = await Browser.launch()
    t.teardown(() => browser.close())
    const page = await browser.open(base + path)
    await page.setViewportSize(DESKTOP)
    return new AppUser(name, browser, page)
  }

  /** Signs in with the user's password and waits for the chat (or, on /dashboard, the dashboard). */
  async signIn (page: Page = this.page, into: 'chat' | 'dashboard' = 'chat'): Promise<void> {
    await page.fill('#login input[name=user]', this.name)
    await page.fill('#login input[name=password]', `${this.name}-pw`)
    await page.click('#login button[type=submit]')
    if (into === 'dashboard') {
      await page.waitForSelector('.dashboard', { timeout: 30_000 })
      return
    }
    await page.waitForSelector('#me', { timeout: 30_000 })
    // Connected and caught up: the client exists and has had its first 'synced'.
    await page.waitForFunction(() => (window as unknown as { hailApp?: { chat: { connection: { value: string } } } }).hailApp?.chat.connection.value === 'online', undefined, { timeout: 30_000 })
  }

  /** Another tab of the same browser: the same signed-in user, another device. */
  async newTab (base: string, path = '/'): Promise<Page> {
    const page = await this.browser.open(base + path)
    await page.setViewportSize(DESKTOP)
    return page
  }

  async openConversation (title: string, page: Page = this.page): Promise<void> {
    await page.click(`.conv-row:has(.conv-title:text-is("${title}"))`)
    await page.waitForSelector(`#conv-title:text-is("${title}")`)
  }

  async send (text: string, page: Page = this.page): Promise<void> {
    await page.fill('#composer-input', text)
    await page.keyboard.press('Enter')
  }

  /** Console errors and uncaught exceptions of this user's pages (the app must have none). */
  errors (): string[] {
    return this.browser.console.filter((line) => line.startsWith('error:') || line.startsWith('pageerror:'))
  }

  /** The page at phone and at desktop width, as `{step}-{user}-{phone|desktop}.png`. */
  async shoot (test: string, step: string, page: Page = this.page): Promise<void> {
    const dir = join(SCREENSHOTS, test)
    await mkdir(dir, { recursive: true })
    const size = page.viewportSize() ?? DESKTOP
    // No hover left over from the last click (menus that show on hover).
    await page.mouse.move(0, 0)
    for (const [label, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
      await page.setViewportSize(viewport)
      await page.waitForTimeout(250)
      await page.screenshot({ path: join(dir, `${step}-${this.name}-${label}.png`) })
    }
    await page.setViewportSize(size)
  }
}

/** The SDK in Node, as a second device or a bot: connected over MQTT with the user's password. */
export async function nodeClient (t: Test, mqttUrl: string, user: string, device = 'node'): Promise<HailClient> {
  const client = new HailClient({ url: mqttUrl, user, device, password: `${user}-pw`, clean: true })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.close())
  return client
}

/** The texts of the messages a page shows in the open conversation, in order. */
export async function shownTexts (page: Page): Promise<string[]> {
  return await page.$$eval('.msg[data-seq] .text', (els) => els.map((e) => e.textContent ?? ''))
}
