import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'

/** sun_path holds 108 bytes on Linux (104 on macOS), the terminating NUL included. */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103

/**
 * Run `use` with a path that reaches the Unix socket `path` and fits in
 * sun_path. A data directory may well be deeper than that allows; then the
 * path goes through a symlink to the socket's directory, made in a private
 * (0700) temp directory and removed once `use` has bound or connected,
 * which is all a socket needs its path for.
 */
export async function withShortSocketPath<T> (path: string, use: (usable: string) => Promise<T>): Promise<T> {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return await use(path)
  const dir = await mkdtemp(join(tmpdir(), 'hail-sock-'))
  try {
    await symlink(dirname(path), join(dir, 'd'))
    return await use(join(dir, 'd', basename(path)))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
