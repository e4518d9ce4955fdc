/**
 * Poll `check` until it holds. The timeout is an upper bound so a broken
 * feature fails the test instead of hanging it; it asserts nothing about speed.
 */
export async function waitFor (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
