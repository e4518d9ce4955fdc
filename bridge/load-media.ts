import type { MediaErrorCode } from '../media/index.js'

type Media = typeof import('../media/index.js')

/*
 * media/ and werift load on the first call that needs the relay, not when
 * the library is imported: werift is a third of the library's import time,
 * and a server without calls never needs it. This module is the bridge's
 * only way in to media/'s code (types aside).
 */
let media: Media | undefined
let loading: Promise<Media> | undefined

/** media/, loaded once. */
export function loadMedia (): Promise<Media> {
  loading ??= import('../media/index.js').then((loaded) => (media = loaded))
  return loading
}

/** The code of a media/ MediaError; undefined for anything else (and before media/ loaded, when none can exist). */
export function mediaErrorCode (err: unknown): MediaErrorCode | undefined {
  return media !== undefined && err instanceof media.MediaError ? err.code : undefined
}
