import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Level } from 'level'
import { GroupCommit, type LevelDatabase } from '../../../../broker/storage/index.js'

/** A store under test, and a way to restart it on the same data. */
export interface StoreFixture<S> {
  store: S
  /**
   * Closes the store and whatever it runs on, opens the same data again and
   * returns a new instance: a restart. `fixture.store` is the new one after.
   */
  restart: () => Promise<S>
}

/** Makes a fresh, empty store for one test; registers its cleanup with `t`. */
export type StoreFactory<S> = (t: Test) => Promise<StoreFixture<S>>

export interface Closable { close: () => Promise<void> }

/**
 * A level factory: a real database in a temp dir, opened as the server opens
 * it (buffer values at the root, the store on a utf8 sublevel, one synced
 * group commit on the root).
 */
export function levelFactory<S extends Closable> (
  prefix: string,
  make: (db: LevelDatabase, groupCommit: GroupCommit) => S
): StoreFactory<S> {
  return async (t) => {
    const dir = await mkdtemp(join(tmpdir(), `hail-${prefix}-`))
    let db: Level<string, Buffer> | undefined
    const open = async (): Promise<S> => {
      db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
      await db.open()
      const sublevel = db.sublevel<string, string>(prefix, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
      return make(sublevel, new GroupCommit(db))
    }
    const fixture: StoreFixture<S> = {
      store: await open(),
      async restart () {
        await fixture.store.close()
        await db!.close()
        fixture.store = await open()
        return fixture.store
      }
    }
    t.teardown(async () => {
      await fixture.store.close().catch(() => {})
      await db!.close()
      await rm(dir, { recursive: true, force: true })
    })
    return fixture
  }
}
