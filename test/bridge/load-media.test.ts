import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

// media/ and werift load on the first call that needs the relay, not with
// `import('hail')` (bridge/load-media.ts). A child process whose module
// resolver refuses 'werift' shows it: the library imports, a server starts
// and stops, and only the first room's peer, once it is asked to signal,
// fails for want of werift.

const run = promisify(execFile)
const dist = new URL('../../dist/index.js', import.meta.url).href
const hooks = "export async function resolve (specifier, context, next) { if (specifier === 'werift') throw new Error('werift was loaded'); return next(specifier, context) }"
const register = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hooks))})`

const script = `
  const { createServer, createMediaRooms, parseCallsConfig } = await import(${JSON.stringify(dist)})
  const server = createServer({ dataDir: process.argv[1], host: '127.0.0.1', mqttPort: 0, httpPort: 0 })
  await server.listen()
  await server.close()
  const rooms = createMediaRooms(parseCallsConfig({}))
  const peer = rooms.createRoom('r').addPeer('alice/phone')
  const signalled = await peer.signal({ type: 'offer', sdp: 'v=0' }).then(() => 'signalled', (err) => err.message)
  await rooms.close()
  process.stdout.write(JSON.stringify({ started: true, signalled }))
`

t.test('import("hail") and a server without calls never load werift; the first room does', async (t) => {
  const { stdout } = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', script, t.testdir()], { timeout: 60_000 })
  t.same(JSON.parse(stdout), { started: true, signalled: 'werift was loaded' })
})
