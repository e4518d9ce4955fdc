import { HailClientError } from './errors.js'

/**
 * Whether `name` can stand as one topic level: the server checks the exact
 * syntax; this keeps wildcards and separators from changing which topic a
 * publish or subscribe addresses.
 */
export function isTopicLevel (name: string): boolean {
  return name.length > 0 && name.length <= 128 && !/[/+#\u0000]/.test(name)
}

/** Throws HAIL_ERR_BAD_ARGUMENT unless `conv` can stand as one topic level. */
export function checkConv (conv: string): void {
  if (!isTopicLevel(conv)) throw new HailClientError('HAIL_ERR_BAD_ARGUMENT', `'${conv}' is not a conversation id`)
}
