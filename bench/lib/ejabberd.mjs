// ejabberd, the IM peer of the chat cells: Debian's package, run by the bench
// as a throwaway instance. Everything it writes stays in its temporary
// directory: its config, its Mnesia spool (MAM archives, offline messages,
// users), its logs, its HOME (so no .erlang.cookie lands in
// /var/lib/ejabberd). It runs as the package's `ejabberd` user, through
// Debian's own `ejabberdctl foreground` (what the systemd unit runs), on free
// loopback ports, pinned to one CPU from its start so the Erlang VM sizes its
// schedulers to that CPU. Erlang distribution listens on a fixed loopback port
// (ejabberdctl's ERL_DIST_PORT), so no epmd is started.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { NotApplicable, ensurePackage } from './install.mjs'
import { descendants, freePort, pin, waitPort } from './proc.mjs'

export const EJABBERDCTL = '/usr/sbin/ejabberdctl'
/** The XMPP host the bench's users live on. */
export const XMPP_DOMAIN = 'localhost'
const NODE = 'hailbench@localhost'

/**
 * ejabberd's configuration for the bench: Debian 23.01's /etc/ejabberd/ejabberd.yml
 * (its modules, access rules, SCRAM password storage, Mnesia for everything),
 * with these changes: one client listener on loopback without TLS (Debian's
 * requires STARTTLS) and with a backlog of 1000 (the default 5 refuses a burst
 * of connects); no other listeners; Debian's per-connection shaper (3,000 B/s)
 * lifted, as mosquitto's queue limit is, so the figure is the server's and not
 * a rate limit's; mod_mam added with `default: always` (Debian's file does not
 * enable it; `mam: false` leaves it out, to tell the archive's cost from the
 * rest). Log level info, as Debian has it (it logs connections, not messages).
 * @param {number} port @param {boolean} mam
 */
function config (port, mam) {
  return `# Written by Hail's bench (bench/lib/ejabberd.mjs) for a throwaway instance.
loglevel: info
log_rotate_count: 0
hosts:
  - ${XMPP_DOMAIN}
listen:
  -
    port: ${port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    shaper: c2s_shaper
    access: c2s
    starttls: false
    backlog: 1000
disable_sasl_mechanisms:
  - "digest-md5"
  - "X-OAUTH2"
auth_password_format: scram
acl:
  admin:
    user:
      - ""
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  local:
    allow: local
  c2s:
    deny: blocked
    allow: all
  announce:
    allow: admin
  configure:
    allow: admin
  muc_create:
    allow: local
  pubsub_createnode:
    allow: local
  trusted_network:
    allow: loopback
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper:
  normal:
    rate: 3000
    burst_size: 20000
  fast: 200000
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages:
    5000: admin
    100: all
  c2s_shaper: none
  s2s_shaper: fast
modules:
  mod_adhoc: {}
  mod_admin_extra: {}
  mod_announce:
    access: announce
  mod_avatar: {}
  mod_blocking: {}
  mod_bosh: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_configure: {}
  mod_disco: {}
  mod_fail2ban: {}
  mod_http_api: {}
  mod_last: {}
${mam ? '  mod_mam:\n    default: always\n' : ''}  mod_mqtt: {}
  mod_muc:
    access:
      - allow
    access_admin:
      - allow: admin
    access_create: muc_create
    access_persistent: muc_create
    access_mam:
      - allow
    default_room_options:
      mam: true
  mod_muc_admin: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {}
  mod_pres_counter:
    count: 5
    interval: 60
  mod_privacy: {}
  mod_private: {}
  mod_pubsub:
    access_createnode: pubsub_createnode
    plugins:
      - flat
      - pep
    force_node_config:
      "eu.siacs.conversations.axolotl.*":
        access_model: open
      storage:bookmarks:
        access_model: whitelist
  mod_push: {}
  mod_push_keepalive: {}
  mod_roster:
    versioning: true
  mod_s2s_dialback: {}
  mod_shared_roster: {}
  mod_sic: {}
  mod_stream_mgmt:
    resend_on_timeout: if_offline
  mod_stun_disco: {}
  mod_vcard:
    search: false
  mod_vcard_xupdate: {}
  mod_version: {}
`
}

/** The package's system user, which ejabberdctl insists on running as. */
function ejabberdUser () {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('ejabberd:'))
  if (line === undefined) throw new NotApplicable('n/a: the ejabberd package is installed but there is no ejabberd user')
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

/**
 * Installing the package on a machine with systemd also enables and starts
 * Debian's own ejabberd (ports 5222, 5269, 5280, 5443, 1883, 3478/udp). When
 * the bench installed it, it stops and disables that service: the bench never
 * uses it, and an unattended run should not leave a server listening.
 */
function stopSystemService () {
  if (!existsSync('/run/systemd/system')) return
  try {
    execFileSync('systemctl', ['disable', '--now', 'ejabberd'], { stdio: 'ignore' })
    process.stderr.write('bench: stopped and disabled the system ejabberd service that apt-get started\n')
  } catch {}
}

/**
 * @typedef {import('./brokers.mjs').Broker & { domain: string, registerUsers: (creds: { user: string, password: string }[]) => Promise<{ ms: number }> }} EjabberdBroker
 */

/**
 * Start a throwaway ejabberd in `dir` (which the caller created and removes on failure).
 * @param {string} dir @param {number} cpu @param {{ name?: string, mam?: boolean }} [o] mam: false runs it without message archiving
 * @returns {Promise<EjabberdBroker>}
 */
export async function startEjabberd (dir, cpu, o = {}) {
  const name = o.name ?? 'ejabberd'
  if (ensurePackage('ejabberd', EJABBERDCTL)) stopSystemService()
  const { uid, gid } = ejabberdUser()
  if (process.getuid?.() !== 0 && process.getuid?.() !== uid) throw new NotApplicable('n/a: ejabberdctl runs only as root or as the ejabberd user')
  const port = await freePort()
  const distPort = await freePort()
  const paths = { config: join(dir, 'ejabberd.yml'), ctlConfig: join(dir, 'ejabberdctl.cfg'), spool: join(dir, 'spool'), logs: join(dir, 'logs'), modules: join(dir, 'modules') }
  await Promise.all([paths.spool, paths.logs, paths.modules].map((d) => mkdir(d, { recursive: true })))
  await writeFile(paths.config, config(port, o.mam ?? true))
  await writeFile(paths.ctlConfig, [
    '# Written by Hail\'s bench: a node of its own, distribution on one loopback port (no epmd).',
    `ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie ${randomBytes(12).toString('hex')}"`,
    `ERLANG_NODE=${NODE}`,
    `ERL_DIST_PORT=${distPort}`,
    'INET_DIST_INTERFACE=127.0.0.1',
    `CONTRIB_MODULES_PATH=${paths.modules}`,
    `CONTRIB_MODULES_CONF_DIR=${paths.modules}`,
    ''
  ].join('\n'))
  // Debian's inetrc: "localhost" from /etc/hosts, as the packaged node resolves it.
  await writeFile(join(dir, 'inetrc'), '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost","hostalias"]}.\n{file, resolv, "/etc/resolv.conf"}.\n')
  execFileSync('chown', ['-R', `${uid}:${gid}`, dir])

  const ctlArgs = ['--config-dir', dir, '--config', paths.config, '--ctl-config', paths.ctlConfig, '--spool', paths.spool, '--logs', paths.logs]
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, LANG: 'C.UTF-8' }
  const pinAtStart = cpus().length >= 2 && existsSync('/usr/bin/taskset')
  const [command, args] = pinAtStart ? ['taskset', ['-c', String(cpu), EJABBERDCTL, ...ctlArgs, 'foreground']] : [EJABBERDCTL, [...ctlArgs, 'foreground']]
  const child = spawn(command, args, { cwd: dir, uid, gid, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (/** @type {Buffer} */ chunk) => { output = (output + chunk).slice(-4000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const log = () => output
  await waitPort(port, child, log)
  const wrapper = /** @type {number} */ (child.pid)
  // ejabberdctl (bash) waits for beam.smp, whose erl_child_setup runs the port programs.
  const pids = [wrapper, ...descendants(wrapper)]
  const beam = pids.find((p) => comm(p) === 'beam.smp')
  if (beam === undefined) throw new Error(`ejabberd listens on ${port} but no beam.smp under ejabberdctl (${pids.join(', ')})`)
  for (const p of pids) pin(p, cpu)
  const names = new Map(pids.map((p) => [p, comm(p)]))

  /** Run an ejabberdctl command against this node (a short-lived Erlang node, not pinned). @param {string[]} cmd */
  const ctl = (cmd) => new Promise((resolve, reject) => {
    const c = spawn(EJABBERDCTL, [...ctlArgs, ...cmd], { cwd: dir, uid, gid, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout?.on('data', (d) => { out += d })
    c.stderr?.on('data', (d) => { out += d })
    c.once('error', reject)
    c.once('close', (code) => code === 0 ? resolve(out.trim()) : reject(new Error(`ejabberdctl ${cmd[0]} exited ${code}: ${out.trim().slice(-600)}`)))
  })

  // The client port opens before ejabberd's own start has finished (Mnesia tables of the auth
  // backend): an import then aborts with `no_exists ... storage_type` (seen on a loaded machine).
  // `status` exits 0 only once the ejabberd application runs.
  for (let i = 0; ; i++) {
    try { await ctl(['status']); break } catch (err) {
      if (i >= 60 || child.exitCode !== null) throw new Error(`ejabberd never reported started: ${/** @type {Error} */ (err).message}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }

  let stopping = false
  /** @type {Promise<string>} */
  const crashed = new Promise((resolve) => child.once('exit', (code, signal) => {
    if (!stopping) resolve(`${name} exited (${code ?? signal}) during the cell: ${output.trim().slice(-600)}`)
  }))
  return {
    name,
    port,
    pids,
    dir,
    log,
    crashed,
    domain: XMPP_DOMAIN,
    async registerUsers (creds) {
      // One bulk import (XEP-0227) through ejabberdctl: `ejabberdctl register` starts an
      // Erlang node per user (~1.3 s each, 20+ minutes for 1,000).
      const t0 = Date.now()
      const file = join(dir, 'users.xml')
      const users = creds.map((c) => `<user name='${c.user}' password='${c.password}'/>`).join('')
      await writeFile(file, `<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'><host jid='${XMPP_DOMAIN}'>${users}</host></server-data>\n`)
      execFileSync('chown', [`${uid}:${gid}`, file])
      await ctl(['import_piefxis', file])
      const count = Number(await ctl(['stats', 'registeredusers']))
      if (count < creds.length) throw new Error(`ejabberdctl import_piefxis registered ${count} of ${creds.length} users`)
      return { ms: Date.now() - t0 }
    },
    stop: async () => {
      stopping = true
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        // SIGTERM to the VM itself (Erlang stops gracefully on it); ejabberdctl then exits.
        kill(beam, 'SIGTERM')
        const timer = setTimeout(() => { for (const p of [...pids].reverse()) if (comm(p) === names.get(p)) kill(p, 'SIGKILL') }, 15_000)
        await exited
        clearTimeout(timer)
      }
      // Nothing of it may outlive the cell (port programs, should the VM have died hard).
      for (const p of pids) if (comm(p) === names.get(p)) kill(p, 'SIGKILL')
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** @param {number} pid */
function comm (pid) {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() } catch { return '' }
}

/** @param {number} pid @param {NodeJS.Signals} signal */
function kill (pid, signal) {
  try { process.kill(pid, signal) } catch {}
}
