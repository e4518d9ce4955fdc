// Checks of what callers hand a ConversationStore, shared by the level and the Redis store.
import { requireUserName, type ParsedConvId } from './conv-id.js'
import { ROLES, type Member, type MemberInput, type Role } from './conversation-store.js'
import { StoreInputError } from './errors.js'

export function memberOf (input: MemberInput): Member {
  if (input === null || typeof input !== 'object') throw new StoreInputError('a member must be an object')
  const user = requireUserName(input.user)
  const role = requireRole(input.role)
  const joinedSeq = input.joinedSeq ?? 0
  if (!Number.isSafeInteger(joinedSeq) || joinedSeq < 0) throw new StoreInputError(`joinedSeq must be an integer >= 0, not ${String(joinedSeq)}`)
  return Object.freeze({ user, role, joinedSeq })
}

export function requireRole (role: unknown): Role {
  if (!ROLES.includes(role as Role)) throw new StoreInputError(`not a role: ${JSON.stringify(role)}`)
  return role as Role
}

export function requireName (name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) throw new StoreInputError('a conversation name must be 1-256 characters')
  return name
}

export function requireAdmissible (parsed: ParsedConvId, user: string): void {
  if (parsed.type === 'direct' && !parsed.users.includes(user)) {
    throw new StoreInputError(`${user} cannot join the direct conversation ${parsed.id}`)
  }
}
