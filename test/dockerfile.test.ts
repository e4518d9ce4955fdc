import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { cp, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast'
import { validate } from 'dockerfile-utils'
import { waitFor } from './helpers/wait-for.js'

// The Dockerfile, without a Docker engine (this machine has only the
// client, so the image is not built here): linted by dockerfile-utils (the
// parser and checks behind VS Code's Dockerfile support), checked for what
// a production image needs, and its run stage replayed in a directory:
// the same `npm ci --omit=dev`, the same files copied, the same entry
// point and health check, so a file or dependency the image would lack fails here.

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const text = await readFile(join(root, 'Dockerfile'), 'utf8')
const dockerfile = DockerfileParser.parse(text)
const froms = dockerfile.getFROMs()
/** The instructions of the last stage: what the image runs. */
const runStage = dockerfile.getInstructions().filter((i) => i.getRange().start.line > froms[froms.length - 1]!.getRange().start.line)
const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue())
/** The stage a COPY takes its files from (--from=), or undefined for the build context. */
const fromStage = (i: Instruction): string | undefined => (i as Copy).getFromFlag?.()?.getValue() ?? undefined
const one = (keyword: string): Instruction | undefined => runStage.find((i) => i.getKeyword() === keyword)
/** The JSON (exec) form of CMD, ENTRYPOINT or HEALTHCHECK ... CMD. */
const execForm = (i: Instruction | undefined): string[] => JSON.parse(/\[.*\]/s.exec(i?.getArgumentsContent() ?? '')?.[0] ?? '[]') as string[]

t.test('dockerfile-utils finds nothing wrong, and does find a broken line', async (t) => {
  t.same(validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`), [], 'no diagnostics')
  const broken = text.replace('EXPOSE 1883', 'EXPOSE 1883/tcpx').replace('HEALTHCHECK --interval=30s', 'HEALTHCHECK --interval=30x')
  t.ok(validate(broken).length >= 2, 'a bad protocol and a bad duration are reported')
})

t.test('two stages; the image runs as a non-root user with a data volume, a health check and production dependencies only', async (t) => {
  t.ok(froms.length >= 2, 'multi-stage: the compiler stays in the build stage')
  t.equal(froms[0]!.getBuildStage(), 'build')
  t.not(args(one('USER')!)[0], 'root', 'USER is not root')
  t.match(args(one('USER')!)[0], /^\w+$/, `USER ${args(one('USER')!)[0]}`)
  t.match(one('VOLUME')?.getArgumentsContent(), /\/var\/lib\/hail/, 'a volume for the data')
  t.match(one('ENV')?.getArgumentsContent(), /HAIL_DATA=\/var\/lib\/hail/, 'the daemon keeps its data in it')
  t.match(execForm(one('HEALTHCHECK')).join(' '), /\/healthz/, 'the health check asks /healthz')
  const installs = runStage.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '')
  t.ok(installs.some((c) => /npm ci --omit=dev/.test(c)), 'npm ci --omit=dev in the run stage')
  t.notOk(installs.some((c) => /npm run build|tsc/.test(c)), 'nothing is compiled in the run stage')
  t.ok(runStage.some((i) => i.getKeyword() === 'COPY' && fromStage(i) === 'build' && args(i).some((a) => a.endsWith('/dist'))), 'the compiled code comes from the build stage')
  t.same(execForm(one('ENTRYPOINT')).slice(0, 2), ['node', '/opt/hail/dist/bin/hail.js'], 'node runs the daemon directly: it is PID 1 and gets SIGTERM and SIGHUP')
})

t.test('the run stage replayed in a directory: it installs, starts, passes its health check and stops on SIGTERM', async (t) => {
  const app = t.testdir()
  const workdir = args(one('WORKDIR')!)[0]!
  // COPY: sources in the context (the repository) or in the build stage (whose WORKDIR /src is the repository built).
  for (const copy of runStage.filter((i) => i.getKeyword() === 'COPY')) {
    const fromBuild = fromStage(copy) === 'build'
    const paths = args(copy)
    const dest = paths.pop()!
    for (const source of paths) {
      const from = join(root, fromBuild ? source.replace(/^\/src\//, '') : source)
      // `COPY a b dir/` puts each in dir/; `COPY dir name` makes name a copy of dir.
      const to = dest.endsWith('/') ? join(app, dest, source.split('/').pop()!) : join(app, dest)
      await mkdir(join(to, '..'), { recursive: true })
      await cp(from, to, { recursive: true })
    }
  }
  const npmCi = runStage.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '')
    .flatMap((c) => c.split('&&')).map((c) => c.trim()).find((c) => c.startsWith('npm ci'))!
  await run('npm', [...npmCi.split(/\s+/).slice(1), '--prefer-offline', '--loglevel', 'error'], { cwd: app, timeout: 600_000, maxBuffer: 64 << 20 })

  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HAIL_'))),
    HAIL_DATA: join(app, 'data'),
    HAIL_HOST: '127.0.0.1',
    HAIL_MQTT_PORT: '0',
    HAIL_HTTP_PORT: '0'
  }
  const [node, ...entry] = execForm(one('ENTRYPOINT'))
  const daemon = spawn(node === 'node' ? process.execPath : node!, [...entry.map((a) => a.replace(workdir, app)), ...execForm(one('CMD'))], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { daemon.kill('SIGKILL') })
  let out = ''
  daemon.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  daemon.stderr.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  await waitFor(() => out.includes('"msg":"hail started"') || daemon.exitCode !== null, 'the daemon to start', 60_000)
  const started = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"hail started"')) ?? 'null') as { urls: { http: string } } | null
  t.ok(started !== null, `started from the image's files alone${started === null ? `:\n${out}` : ''}`)
  if (started === null) return

  const [check, ...checkArgs] = execForm(one('HEALTHCHECK'))
  const health = await run(check === 'node' ? process.execPath : check!, checkArgs, { cwd: app, env: { ...env, HAIL_HTTP_PORT: new URL(started.urls.http).port } })
    .then(() => 0, (err: { code?: number }) => err.code ?? 1)
  t.equal(health, 0, 'the HEALTHCHECK command passes')
  t.equal((await fetch(new URL('/', started.urls.http))).status, 200, 'the web app is served from the image\'s dist/')
  const exit = new Promise((resolve) => daemon.on('exit', (code) => resolve(code)))
  daemon.kill('SIGTERM')
  t.equal(await exit, 0, 'docker stop (SIGTERM) stops it cleanly')
  const unhealthy = await run(check === 'node' ? process.execPath : check!, checkArgs, { cwd: app, env: { ...env, HAIL_HTTP_PORT: new URL(started.urls.http).port } })
    .then(() => 0, (err: { code?: number }) => err.code ?? 1)
  t.equal(unhealthy, 1, 'and fails once the daemon is gone: the check can fail')
})
