import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

// contrib/hail.service, checked by systemd itself (test/run.sh installs
// Debian's systemd when systemd-analyze is missing): `verify` loads it as
// systemd would and names every unknown key, bad value or missing
// program; `security --offline` scores its sandbox.

const run = promisify(execFile)
const root = new URL('../..', import.meta.url).pathname
const unit = join(root, 'contrib', 'hail.service')

/** systemd-analyze verify's exit code and everything it said: a warning counts as a failure too. */
async function verify (path: string): Promise<{ code: number, said: string }> {
  return await run('systemd-analyze', ['verify', path]).then(
    ({ stdout, stderr }) => ({ code: 0, said: stdout + stderr }),
    (err: { code?: number, stdout?: string, stderr?: string }) => ({ code: err.code ?? 1, said: `${err.stdout ?? ''}${err.stderr ?? ''}` }))
}

/** The unit as written, with node where this machine has it if that is not Debian's /usr/bin/node (verify checks ExecStart's program exists). */
async function unitHere (dir: string, edit: (text: string) => string = (text) => text): Promise<string> {
  let text = await readFile(unit, 'utf8')
  if (!existsSync('/usr/bin/node')) text = text.replace('/usr/bin/node ', `${process.execPath} `)
  const path = join(dir, 'hail.service')
  await writeFile(path, edit(text))
  return path
}

t.test('systemd-analyze verify accepts the unit without a single warning', async (t) => {
  const { code, said } = await verify(await unitHere(t.testdir()))
  t.equal(code, 0)
  t.equal(said, '', 'nothing said')
})

t.test('the check fails on a unit with a misspelt key or a missing program', async (t) => {
  const misspelt = await verify(await unitHere(t.testdir(), (text) => text.replace('ProtectSystem=strict', 'ProtectSystm=strict')))
  t.match(misspelt.said, /Unknown key 'ProtectSystm'/)
  const missing = await verify(await unitHere(t.testdir(), (text) => text.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node')))
  t.not(missing.code, 0)
})

t.test('the unit runs hail hardened: its own user and state directory, read-only system, reload by SIGHUP', async (t) => {
  const text = await readFile(unit, 'utf8')
  for (const line of ['User=hail', 'StateDirectory=hail', 'StateDirectoryMode=0700', 'ProtectSystem=strict', 'ProtectHome=yes',
    'NoNewPrivileges=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'SystemCallFilter=@system-service',
    'ExecReload=/bin/kill -HUP $MAINPID', 'Environment=NODE_ENV=production HAIL_DATA=/var/lib/hail']) {
    t.match(text, new RegExp(`^${line.replace(/[$.*+?()[\]{}|\\^]/g, '\\$&')}$`, 'm'), line)
  }
  const { stdout } = await run('systemd-analyze', ['security', '--offline=true', await unitHere(t.testdir())])
  const exposure = Number(/Overall exposure level for hail\.service: ([\d.]+)/.exec(stdout)?.[1])
  t.ok(exposure <= 2, `systemd's exposure score is ${exposure} (0 best, 10 worst; 2 or less is "OK")`)
})
