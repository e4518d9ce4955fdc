import { readFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import { denyAll, type TopicAuthority } from '../mqtt/access.js'
import { ConfigError } from '../errors.js'
import { Acl } from './acl.js'
import { parseAclFile } from './acl-file.js'

/**
 * The authority over plain (non-reserved) topics: the ACL file when one is
 * configured; without one, an open broker in anonymous mode and deny by
 * default otherwise.
 */
export async function loadAcl (path: string | null, allowAnonymous: boolean, logger: Logger): Promise<TopicAuthority> {
  if (path === null) return allowAnonymous ? Acl.allowAll() : denyAll
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read ACL file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  const acl = new Acl(parseAclFile(text, path))
  for (const warning of acl.warnings) logger.warn({ acl: path }, warning)
  return acl
}
