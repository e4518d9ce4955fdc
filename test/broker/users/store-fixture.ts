import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Level } from 'level'
import { GroupCommit } from '../../../broker/storage/index.js'
import { LevelUserStore } from '../../../broker/users/level-user-store.js'

/** A LevelUserStore with cheap hashing in a temp dir that `t` removes. */
export async function tempUserStore (t: Test): Promise<LevelUserStore> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-users-'))
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
  await db.open()
  t.teardown(async () => {
    await db.close()
    await rm(dir, { recursive: true, force: true })
  })
  return LevelUserStore.inDatabase(db, { groupCommit: new GroupCommit(db), scrypt: { N: 2 ** 10, r: 8, p: 1 } })
}
