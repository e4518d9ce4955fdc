/**
 * Which configured limit an aedes client error reports, if any. aedes has no
 * error codes, so this reads its messages (aedes 1.2.0, lib/client.js and
 * lib/handlers/publish.js); an unknown message counts as no limit.
 */
const LIMITS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^topic has too many levels/, 'maxTopicLevels'],
  [/^maxInflightInbound exceeded/, 'maxInflight'],
  [/^drain timeout/, 'drainTimeout'],
  [/^connect did not arrive in time/, 'connectTimeout']
]

export function clientErrorLimit (err: Error): string | undefined {
  for (const [pattern, limit] of LIMITS) {
    if (pattern.test(err.message)) return limit
  }
  return undefined
}
