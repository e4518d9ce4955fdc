// Everything stored per client is keyed `<escaped id>:<rest>`. The escape
// removes every ':' from the id, so no id's prefix is a prefix of another
// id's keys ('a' and 'a:b', 'ab' and 'a' never share a range), and it is
// injective: '%' and ':' become %25 and %3A, and lone UTF-16 surrogates,
// which UTF-8 would collapse into U+FFFD, become %uXXXX.
const NEEDS_ESCAPE = /[%:]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

function escapeId (id: string): string {
  return id.replace(NEEDS_ESCAPE, c => c.length === 1 && c.charCodeAt(0) < 0x80
    ? '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')
    : '%u' + c.charCodeAt(0).toString(16).toUpperCase())
}

/** The key prefix for everything stored under client id `id`. */
export function clientKey (id: string): string {
  return escapeId(id) + ':'
}

/** The key range holding exactly the keys under client id `id`. */
export function clientRange (id: string): { gte: string, lt: string } {
  const escaped = escapeId(id)
  // ';' is the character after ':'
  return { gte: escaped + ':', lt: escaped + ';' }
}
