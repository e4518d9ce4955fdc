import type { ErrorCode } from '../protocol/index.js'

/**
 * Errors raised by the broker. Each has a stable, greppable `code` so callers
 * (the CLI, embedding apps, tests) branch on the code and never on the text.
 */
export class HailError extends Error {
  readonly code: string

  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HailError'
    this.code = code
  }
}

/** Options or a config file that do not validate. */
export class ConfigError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_CONFIG', message, options)
    this.name = 'ConfigError'
  }
}

/** A listener could not start: port in use, unreadable certificate, ... */
export class ListenError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_LISTEN', message, options)
    this.name = 'ListenError'
  }
}

/** An ACL file that does not parse; the message names file and line. */
export class AclError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_ACL', message, options)
    this.name = 'AclError'
  }
}

/** A store write or read failed; nothing was acknowledged. */
export class StoreError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_STORE', message, options)
    this.name = 'StoreError'
  }
}

/** A client broke MQTT 3.1.1; the clause is in the message. */
export class ProtocolError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_PROTOCOL', message, options)
    this.name = 'ProtocolError'
  }
}

/**
 * A device's request refused with one of the protocol's error codes
 * (docs/protocol.md, "Errors"): by the IM engine, the file store, the call
 * bridge. It goes back to the sender on its reply topic; the connection
 * stays up and nothing is stored.
 */
export class ImError extends HailError {
  declare readonly code: ErrorCode

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'ImError'
  }
}

/** A stored item asked for by key (a queued packet, a QoS 2 packet) is not there. */
export class NotFoundError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_NOT_FOUND', message, options)
    this.name = 'NotFoundError'
  }
}

/** Codes of UserError: what was wrong with a user name, a password or the user asked for. */
export type UserErrorCode =
  | 'HAIL_ERR_USER_EXISTS'
  | 'HAIL_ERR_NO_USER'
  | 'HAIL_ERR_BAD_NAME'
  | 'HAIL_ERR_BAD_PASSWORD'

/** A user operation refused: the name is taken, unknown or malformed, or the password unusable. */
export class UserError extends HailError {
  declare readonly code: UserErrorCode

  constructor (code: UserErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'UserError'
  }
}

/** A token could not be issued (`HAIL_ERR_BAD_TTL`: lifetime out of range). */
export class TokenError extends HailError {
  constructor (code: 'HAIL_ERR_BAD_TTL', message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'TokenError'
  }
}

/** The admin channel failed: a malformed request, an unknown op, a socket that does not answer. */
export class AdminError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_ADMIN', message, options)
    this.name = 'AdminError'
  }
}

/** The data directory is locked by another process (a running server, most likely). */
export class DataDirBusyError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_DATA_BUSY', message, options)
    this.name = 'DataDirBusyError'
  }
}

/**
 * The data directory's database is damaged: a log, table or MANIFEST that
 * does not verify, a missing CURRENT, or acknowledged writes missing. The
 * message names what; nothing was changed (`hail repair` salvages).
 */
export class DataDirDamagedError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_DATA_DAMAGED', message, options)
    this.name = 'DataDirDamagedError'
  }
}

/** A backup or restore refused (a target that is not empty, a running daemon) or failed (`hail backup`, `hail restore`). */
export class BackupError extends HailError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('HAIL_ERR_BACKUP', message, options)
    this.name = 'BackupError'
  }
}
