import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Whether some process holds the LevelDB lock of `dir` (its LOCK file, an
 * fcntl lock), read from Linux's /proc/locks without taking it: the data
 * directory check must not read a database that a running daemon is
 * writing, and LevelDB offers no way to take its lock without opening, and so
 * replaying, the database. False where /proc/locks does not exist: the
 * open that follows the check still refuses a locked directory.
 */
export async function levelLockHeld (dir: string): Promise<boolean> {
  let table: string
  let lock
  try {
    lock = await stat(join(dir, 'LOCK'))
    table = await readFile('/proc/locks', 'utf8')
  } catch {
    return false
  }
  // st_dev as the kernel prints it (fs/locks.c: "%02x:%02x:%lu", major, minor, inode)
  const dev = lock.dev
  const major = Math.floor(dev / 256) & 0xfff
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00)
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${lock.ino}`
  return table.split('\n').some((line) => line.split(/\s+/).includes(id))
}
