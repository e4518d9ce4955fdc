import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { Daemon, HAIL_BIN } from '../helpers/daemon.js'

/*
 * `hail user ...` and `hail token` as users run them: the built CLI in a
 * child process, once against a data directory no daemon holds (the CLI
 * opens it itself) and once while a real daemon runs on it (the CLI goes
 * through its admin socket). Then mqtt.js logs in with what they made.
 */
const root = fileURLToPath(new URL('../..', import.meta.url))

t.before(() => {
  // As in hail.test.ts: rebuild dist/ when a source is newer, so the children run this code.
  const builtAt = mtime(HAIL_BIN)
  const sources = ['index.ts', ...['bin', 'broker'].flatMap((dir) => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)))]
  if (sources.every((file) => !file.endsWith('.ts') || mtime(join(root, file)) <= builtAt)) return
  const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'))
  spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, encoding: 'utf8' })
  if (mtime(HAIL_BIN) <= builtAt) throw new Error(`tsc did not write ${HAIL_BIN}`)
})

function mtime (path: string): number {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

interface Result { code: number | null, stdout: string, stderr: string }

/** Run `hail ...args` to completion, with `stdin` written to it (or no stdin at all). */
function hail (args: string[], options: { cwd: string, stdin?: string, env?: Record<string, string> }): Promise<Result> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HAIL_')))
  const child = spawn(process.execPath, [HAIL_BIN, ...args], {
    cwd: options.cwd,
    env: { ...env, ...options.env },
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  if (options.stdin !== undefined) child.stdin!.end(options.stdin)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer)
    resolve({ code, stdout, stderr })
  }))
}

/** The CONNACK code of a refused connection, or 0 for an accepted one. */
async function connack (url: string, clientId: string, username: string, password: string): Promise<number> {
  try {
    const client = await mqtt.connectAsync(url, { clientId, username, password, reconnectPeriod: 0, connectTimeout: 10_000 })
    await client.endAsync()
    return 0
  } catch (err) {
    return (err as { code: number }).code
  }
}

async function startDaemon (t: Test, data: string): Promise<{ daemon: Daemon, url: string }> {
  const { daemon, addresses } = await Daemon.start(['--data', data, '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', 'off'])
  t.teardown(() => daemon.kill9())
  return { daemon, url: `mqtt://127.0.0.1:${addresses.mqtt!.port}` }
}

t.test('without a daemon, hail user and hail token work on the data directory itself', async (t) => {
  const cwd = t.testdir()
  const added = await hail(['user', 'add', 'alice', '--password-stdin', '--data', 'data'], { cwd, stdin: 'alice-pw\nignored line\n' })
  t.same(added, { code: 0, stdout: '', stderr: 'hail: user alice added\n' })
  t.equal(statSync(join(cwd, 'data')).mode & 0o777, 0o700, 'the data directory it made is private')
  t.equal((await hail(['user', 'add', 'bob', '--password-stdin', '--data', 'data'], { cwd, stdin: 'bob-pw' })).code, 0, 'a last line without a newline is read too')

  const list = await hail(['user', 'list', '--data', 'data'], { cwd })
  t.equal(list.code, 0)
  t.match(list.stdout, /^alice\t\d{4}-\d\d-\d\dT[\d:.]+Z\nbob\t\S+\n$/)

  const token = await hail(['token', 'alice', '--ttl', '2h', '--data', 'data'], { cwd })
  t.equal(token.code, 0)
  t.match(token.stdout, /^hail1\.[\w-]+\.[\w-]{43}\n$/, 'the token alone, on stdout')
  t.equal(token.stderr, '')

  t.same(await hail(['user', 'del', 'bob', '--data', 'data'], { cwd }), { code: 0, stdout: '', stderr: 'hail: user bob deleted\n' })
  t.match((await hail(['user', 'list', '--data', 'data'], { cwd })).stdout, /^alice\t\S+\n$/)

  // The daemon then starts on what the CLI wrote: the password and the token both log in.
  const { url } = await startDaemon(t, join(cwd, 'data'))
  t.equal(await connack(url, 'alice/phone', 'alice', 'alice-pw'), 0, 'alice logs in with her password')
  t.equal(await connack(url, 'alice/laptop', 'alice', token.stdout.trim()), 0, 'and with the token issued before the daemon ran')
  t.equal(await connack(url, 'bob/phone', 'bob', 'bob-pw'), 4, 'bob was deleted')
})

t.test('while a daemon runs, hail user and hail token go through its admin socket', async (t) => {
  const cwd = t.testdir()
  const data = join(cwd, 'data')
  const { daemon, url } = await startDaemon(t, data)
  const add = await hail(['user', 'add', 'alice', '--password-stdin', '--data', data], { cwd, stdin: 'alice-pw\n' })
  t.same(add, { code: 0, stdout: '', stderr: 'hail: user alice added\n' })
  // The daemon holds the directory's lock, so only the daemon can have written alice.

  t.equal(await connack(url, 'alice/phone', 'alice', 'alice-pw'), 0, 'alice logs in with her password')
  t.equal(await connack(url, 'bob/phone', 'alice', 'alice-pw'), 5, 'but not with a client id of another user')
  t.equal(await connack(url, 'alice/phone', 'alice', 'wrong'), 4, 'nor with a wrong password')

  const { stdout: token } = await hail(['token', 'alice', '--data', data], { cwd })
  t.match(token, /^hail1\./)
  t.equal(await connack(url, 'alice/laptop', 'alice', token.trim()), 0, 'a token from hail token logs in')

  t.equal((await hail(['user', 'passwd', 'alice', '--password-stdin', '--data', data], { cwd, stdin: 'new-pw\n' })).code, 0)
  t.equal(await connack(url, 'alice/phone', 'alice', 'alice-pw'), 4, 'the old password no longer works')
  t.equal(await connack(url, 'alice/laptop', 'alice', token.trim()), 4, 'nor the token issued before the change')
  t.equal(await connack(url, 'alice/phone', 'alice', 'new-pw'), 0, 'the new one does')

  const client = await mqtt.connectAsync(url, { clientId: 'alice/phone', username: 'alice', password: 'new-pw', reconnectPeriod: 0 })
  const closed = new Promise((resolve) => client.once('close', resolve))
  t.equal((await hail(['user', 'del', 'alice', '--data', data], { cwd })).code, 0)
  await closed
  t.pass('deleting alice disconnected her')
  await client.endAsync(true)
  t.equal(await connack(url, 'alice/phone', 'alice', 'new-pw'), 4)

  t.equal(await daemon.stop(), 0)
  t.same((await hail(['user', 'list', '--data', data], { cwd })).stdout, '', 'after the daemon stopped, the CLI opens the directory itself')
})

t.test('hail user add --admin and hail user admin on|off set the admin flag, with or without a daemon', async (t) => {
  const cwd = t.testdir()
  const added = await hail(['user', 'add', 'root', '--admin', '--password-stdin', '--data', 'data'], { cwd, stdin: 'pw\n' })
  t.same(added, { code: 0, stdout: '', stderr: 'hail: user root added as an admin\n' })
  await hail(['user', 'add', 'alice', '--password-stdin', '--data', 'data'], { cwd, stdin: 'pw\n' })
  t.match((await hail(['user', 'list', '--data', 'data'], { cwd })).stdout, /^alice\t\S+\nroot\t\S+\tadmin\n$/, 'list marks admins')
  t.same(await hail(['user', 'admin', 'alice', 'on', '--data', 'data'], { cwd }), { code: 0, stdout: '', stderr: 'hail: alice is now an admin\n' })
  const { daemon } = await startDaemon(t, join(cwd, 'data'))
  t.same(await hail(['user', 'admin', 'root', 'off', '--data', 'data'], { cwd }), { code: 0, stdout: '', stderr: 'hail: root is no longer an admin\n' }, 'through the admin socket')
  t.match((await hail(['user', 'list', '--data', 'data'], { cwd })).stdout, /^alice\t\S+\tadmin\nroot\t\S+\n$/)
  const refused = await hail(['user', 'admin', 'zed', 'on', '--data', 'data'], { cwd })
  t.same({ code: refused.code, stderr: refused.stderr }, { code: 1, stderr: "hail: no user 'zed'\n" })
  const bad = await hail(['user', 'admin', 'alice', 'yes', '--data', 'data'], { cwd })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^hail: user admin: 'yes' is not on or off/)
  t.match((await hail(['user', 'admin', 'alice', '--data', 'data'], { cwd })).stderr, /^hail: user admin: missing on\|off/)
  t.equal(await daemon.stop(), 0)
})

t.test('refusals exit 1 with one line saying why', async (t) => {
  const cwd = t.testdir()
  await hail(['user', 'add', 'alice', '--password-stdin', '--data', 'data'], { cwd, stdin: 'pw\n' })
  const cases: Array<[string[], string | undefined, RegExp]> = [
    [['user', 'add', 'alice', '--password-stdin'], 'pw\n', /^hail: user 'alice' already exists\n$/],
    [['user', 'add', 'Alice', '--password-stdin'], 'pw\n', /^hail: bad user name 'Alice': user names are lowercase\n$/],
    [['user', 'add', 'a/b'], undefined, /^hail: bad user name 'a\/b': [^\n]+\n$/],
    [['user', 'add', 'bob', '--password-stdin'], '\n', /^hail: the password is empty\n$/],
    [['user', 'add', 'bob', '--password-stdin'], '', /^hail: the password is empty\n$/],
    [['user', 'passwd', 'zed', '--password-stdin'], 'pw\n', /^hail: no user 'zed'\n$/],
    [['user', 'del', 'zed'], undefined, /^hail: no user 'zed'\n$/],
    [['token', 'zed'], undefined, /^hail: no user 'zed'\n$/],
    [['token', 'alice', '--ttl', '31d'], undefined, /^hail: bad --ttl '31d': [^\n]+\n$/],
    [['token', 'alice', '--ttl', '15'], undefined, /^hail: bad --ttl '15': [^\n]+\n$/],
    [['token', 'alice', '--ttl', '0s'], undefined, /^hail: bad --ttl '0s': [^\n]+\n$/]
  ]
  for (const [args, stdin, stderr] of cases) {
    const result = await hail([...args, '--data', 'data'], { cwd, stdin })
    t.same({ code: result.code, stdout: result.stdout }, { code: 1, stdout: '' }, `hail ${args.join(' ')} exits 1`)
    t.match(result.stderr, stderr)
  }
  const missing = await hail(['user', 'list', '--data', 'nowhere'], { cwd })
  t.equal(missing.code, 1)
  t.match(missing.stderr, /^hail: no data directory at \S+nowhere \(add a user first, or check --data\)\n$/)
  t.equal((await hail(['token', 'alice', '--ttl', '30d', '--data', 'data'], { cwd })).code, 0, '30 days is the longest ttl')
})

t.test('usage errors exit 2 and point at --help', async (t) => {
  const cwd = t.testdir()
  const cases: Array<[string[], RegExp]> = [
    [['user'], /^hail: user: missing subcommand/],
    [['user', 'frob'], /^hail: user: unknown subcommand 'frob': use add, del, passwd, admin, unlock or list \(/],
    [['user', 'ad', 'alice'], /^hail: user: unknown subcommand 'ad': did you mean add\? \(/],
    [['user', 'unlcok', 'alice'], /^hail: user: unknown subcommand 'unlcok': did you mean unlock\? \(/],
    [['user', 'add', 'alice', '--pasword-stdin'], /^hail: user add: unknown option '--pasword-stdin': did you mean --password-stdin\? \(/],
    [['token', 'alice', '--tll', '1h'], /^hail: token: unknown option '--tll': did you mean --ttl\? \(/],
    [['backup', 'dir', '--dta', 'x'], /^hail: backup: unknown option '--dta': did you mean --data\? \(/],
    [['user', 'add'], /^hail: user add: missing NAME/],
    [['user', 'add', 'a', 'b'], /^hail: user add: unexpected argument 'b'/],
    [['user', 'list', '--bogus'], /^hail: user list: unknown option '--bogus'/],
    [['user', 'del', 'a', '--password-stdin'], /^hail: user del: unknown option '--password-stdin'/],
    [['token', 'alice', '--ttl'], /^hail: token: option '--ttl' needs a value/],
    [['token', 'alice', '--data'], /^hail: token: option '--data' needs a value/],
    [['user', 'add', 'alice'], /^hail: no terminal to ask for the password on: give it on stdin with --password-stdin/]
  ]
  for (const [args, stderr] of cases) {
    const result = await hail(args, { cwd })
    t.equal(result.code, 2, `hail ${args.join(' ')} exits 2`)
    t.match(result.stderr, stderr)
    t.match(result.stderr, /\(run 'hail --help' for usage\)\n$/)
    t.equal(result.stderr.split('\n').length, 2, 'one line')
  }
  const help = await hail(['user', 'add', '--help'], { cwd })
  t.equal(help.code, 0)
  t.match(help.stdout, /hail user add NAME \[--password-stdin\]/)
  t.match(help.stdout, /Users and tokens:/)
})

t.test('the data directory comes from HAIL_DATA or a config file, as for hail start', async (t) => {
  const cwd = t.testdir({ 'hail.yaml': 'dataDir: from-file\n' })
  t.equal((await hail(['user', 'add', 'alice', '--password-stdin'], { cwd, stdin: 'pw\n', env: { HAIL_DATA: 'from-env' } })).code, 0)
  t.equal((await hail(['user', 'add', 'bob', '--password-stdin', '-c', 'hail.yaml'], { cwd, stdin: 'pw\n' })).code, 0)
  t.match((await hail(['user', 'list', '--data', 'from-env'], { cwd })).stdout, /^alice\t/)
  t.match((await hail(['user', 'list'], { cwd, env: { HAIL_CONFIG: 'hail.yaml' } })).stdout, /^bob\t/)
  t.match((await hail(['user', 'list', '-c', 'hail.yaml', '--data', 'from-env'], { cwd })).stdout, /^alice\t/, 'a flag beats the file')
})

/**
 * Answers the prompts of `hail ...` on a pseudo-terminal, as a person types:
 * each answer is sent once its prompt has appeared. Prints what the terminal
 * showed and the exit status, as JSON.
 */
const TYPIST = `
import json, os, pty, sys
args, answers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
seen = b''
def read_until(text):
    global seen
    while text not in seen:
        chunk = os.read(fd, 1024)
        if not chunk: raise SystemExit('eof before ' + repr(text))
        seen += chunk
for prompt, answer in answers:
    read_until(prompt.encode())
    seen = seen.replace(prompt.encode(), b'<' + prompt.encode() + b'>', 1)
    os.write(fd, answer.encode())
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk: break
        seen += chunk
except OSError:
    pass
status = os.waitpid(pid, 0)[1]
print(json.dumps({ 'out': seen.decode(), 'code': os.waitstatus_to_exitcode(status) }))
`

async function typed (cwd: string, args: string[], answers: Array<[string, string]>): Promise<{ out: string, code: number }> {
  const child = spawn('python3', ['-c', TYPIST, JSON.stringify([process.execPath, HAIL_BIN, ...args]), JSON.stringify(answers)], { cwd, stdio: ['ignore', 'pipe', 'inherit'] })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  await new Promise((resolve) => child.on('close', resolve))
  return JSON.parse(stdout) as { out: string, code: number }
}

t.test('at a terminal, hail user add asks for the password twice without echoing it', { skip: existsSync('/usr/bin/python3') ? false : 'needs python3 for a pseudo-terminal' }, async (t) => {
  const cwd = t.testdir()
  // \x7f is the Backspace key: 'sx' then Backspace then 'ecret' is 'secret'.
  const added = await typed(cwd, ['user', 'add', 'alice', '--data', 'data'], [['Password: ', 'sx\x7fecret\r'], ['Repeat password: ', 'secret\r']])
  t.equal(added.code, 0)
  t.equal(added.out.replace(/\r/g, ''), '<Password: >\n<Repeat password: >\nhail: user alice added\n', 'nothing typed was shown')
  const token = await hail(['token', 'alice', '--data', 'data'], { cwd })
  t.equal(token.code, 0, 'alice exists')
  const { url } = await startDaemon(t, join(cwd, 'data'))
  t.equal(await connack(url, 'alice/phone', 'alice', 'secret'), 0, 'with the password as edited')

  const differ = await typed(cwd, ['user', 'passwd', 'alice', '--data', 'data'], [['Password: ', 'one\r'], ['Repeat password: ', 'two\r']])
  t.equal(differ.code, 1)
  t.match(differ.out, /hail: the two passwords typed differ/)
  t.equal(await connack(url, 'alice/phone', 'alice', 'secret'), 0, 'and the password stays as it was')
})
