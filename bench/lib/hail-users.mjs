// Users for the chat cell on Hail: its IM protocol needs real accounts.
// Embedded store: made once per run in a template data directory, offline,
// with cheap scrypt (logins use tokens, so the hash cost never shows in a
// measurement), and copied into each repetition's data directory.
// Redis mode: written straight into the bench's redis-server the same way,
// with the store class the daemon uses (keys and token secret shared).
import { mkdir } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { pool } from '../load/recorder.mjs'

const ROOT = new URL('../../', import.meta.url).pathname
/** @param {string} rel */
const dist = (rel) => import(pathToFileURL(join(ROOT, 'dist', rel)).href)
const TOKEN_TTL = 6 * 3600

/** @param {number} count */
export const userNames = (count) => Array.from({ length: count }, (_, i) => `bench${i}`)

/**
 * Make a data directory holding `count` users and return it with a token per user.
 * @param {string} dir @param {number} count @returns {Promise<{ user: string, password: string }[]>}
 */
export async function seedDataDir (dir, count) {
  const { Level } = await import('level')
  const { GroupCommit } = await dist('broker/storage/index.js')
  const { LevelUserStore, TokenService } = await dist('broker/users/index.js')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const db = new Level(dir, { valueEncoding: 'buffer' })
  await db.open()
  const groupCommit = new GroupCommit(db)
  try {
    const users = LevelUserStore.inDatabase(db, { groupCommit, scrypt: { N: 2 ** 4, r: 8, p: 1 } })
    const tokens = new TokenService(users)
    /** @type {{ user: string, password: string }[]} */
    const creds = []
    for (const name of userNames(count)) {
      await users.add(name, `pw-${name}`)
      creds.push({ user: name, password: (await tokens.issue(name, TOKEN_TTL)).token })
    }
    return creds
  } finally {
    await groupCommit.flush()
    await db.close()
  }
}

/**
 * Add `count` users to the Redis a `hail --redis` daemon uses, with cheap
 * scrypt, and return a token per user (signed with the secret the daemon shares).
 * @param {string} url @param {number} count @returns {Promise<{ user: string, password: string }[]>}
 */
export async function seedRedis (url, count) {
  const { Redis } = await import('ioredis')
  const { RedisUserStore, TokenService } = await dist('broker/users/index.js')
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 })
  await client.connect()
  try {
    const users = new RedisUserStore(client, { scrypt: { N: 2 ** 4, r: 8, p: 1 } })
    const tokens = new TokenService(users)
    /** @type {{ user: string, password: string }[]} */
    const creds = []
    for (const name of userNames(count)) {
      await users.add(name, `pw-${name}`)
      creds.push({ user: name, password: (await tokens.issue(name, TOKEN_TTL)).token })
    }
    await users.close?.()
    return creds
  } finally {
    client.disconnect()
  }
}

/**
 * Add `count` users to a running daemon through `<dataDir>/admin.sock` and return a token per user.
 * Slow (every add is a full-cost scrypt on the broker's CPU); kept for stores the bench cannot write itself.
 * @param {string} dataDir @param {number} count @returns {Promise<{ user: string, password: string }[]>}
 */
export async function seedThroughAdmin (dataDir, count) {
  const names = userNames(count)
  /** @type {{ user: string, password: string }[]} */
  const creds = new Array(count)
  await pool(names, 4, async (name, i) => {
    await admin(dataDir, 'user.add', { name, password: `pw-${name}` })
    const { token } = /** @type {{ token: string }} */ (await admin(dataDir, 'token.issue', { user: name, ttlSeconds: TOKEN_TTL }))
    creds[i] = { user: name, password: token }
  })
  return creds
}

/** One request on the admin socket (newline-delimited JSON). @param {string} dataDir @param {string} op @param {object} args */
function admin (dataDir, op, args) {
  return new Promise((resolve, reject) => {
    const socket = connect(join(dataDir, 'admin.sock'))
    let buffered = ''
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify({ id: 1, op, args }) + '\n'))
    socket.on('data', (chunk) => {
      buffered += chunk
      const nl = buffered.indexOf('\n')
      if (nl < 0) return
      socket.destroy()
      const answer = JSON.parse(buffered.slice(0, nl))
      if (answer.ok) resolve(answer.result)
      else reject(new Error(`admin ${op}: ${answer.error.code} ${answer.error.message}`))
    })
    socket.on('error', reject)
  })
}
