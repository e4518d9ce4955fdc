import { join, resolve } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../broker/index.js'
import { UsageError } from '../../bin/errors.js'
import { loadConfig, suggestEnvVar, unknownEnvVars } from '../../bin/load-config.js'

const cwd = '/srv/hail'
const load = (argv: string[] = [], env: Record<string, string> = {}, dir = cwd) => loadConfig({ argv, env, cwd: dir })

t.test('with nothing given, loadConfig() returns the defaults, frozen, with the data dir under the cwd', async (t) => {
  const config = load()
  t.equal(config.mqttPort, 1883)
  t.equal(config.httpPort, 8080)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.dataDir, '/srv/hail/hail-data')
  t.equal(config.tls, null)
  t.equal(config.acl, null)
  t.equal(config.allowAnonymous, false)
  t.equal(config.logLevel, 'info')
  t.equal(config.limits.maxQueue, 1000)
  t.ok(Object.isFrozen(config), 'config is frozen')
  t.ok(Object.isFrozen(config.limits), 'nested objects are frozen')
})

t.test('a YAML file sets keys, env overrides the file, and flags override both', async (t) => {
  const dir = t.testdir({
    'hail.yaml': [
      'mqttPort: 1000',
      'httpPort: 1001',
      'host: 127.0.0.1',
      'logLevel: warn',
      'allowAnonymous: true',
      'limits:',
      '  maxQueue: 10',
      '  maxInflight: 11',
      '  maxTopicLevels: 12'
    ].join('\n')
  })
  const env = { HAIL_CONFIG: 'hail.yaml', HAIL_HTTP_PORT: '2001', HAIL_LOG_LEVEL: 'error', HAIL_MAX_INFLIGHT: '21', HAIL_MAX_TOPIC_LEVELS: '22' }
  const argv = ['--log-level', 'debug', '--max-topic-levels=33', '--no-allow-anonymous']
  const config = load(argv, env, dir)
  t.equal(config.mqttPort, 1000, 'file only')
  t.equal(config.host, '127.0.0.1', 'file only')
  t.equal(config.httpPort, 2001, 'env over file')
  t.equal(config.limits.maxQueue, 10, 'file only, nested')
  t.equal(config.limits.maxInflight, 21, 'env over file, nested')
  t.equal(config.limits.maxTopicLevels, 33, 'flag over env over file, nested')
  t.equal(config.logLevel, 'debug', 'flag over env over file')
  t.equal(config.allowAnonymous, false, '--no-allow-anonymous undoes the file')
  t.equal(config.limits.drainTimeout, 30_000, 'untouched limits keep their defaults')
})

t.test('a JSON file is read like a YAML one, and --config overrides HAIL_CONFIG', async (t) => {
  const dir = t.testdir({
    'a.json': JSON.stringify({ mqttPort: 1111 }),
    'b.json': JSON.stringify({ mqttPort: 2222, httpPort: null, limits: { maxPacketSize: 1024 } })
  })
  const config = load(['-c', 'b.json'], { HAIL_CONFIG: 'a.json' }, dir)
  t.equal(config.mqttPort, 2222)
  t.equal(config.httpPort, null, 'null in a file turns a listener off')
  t.equal(config.limits.maxPacketSize, 1024)
})

t.test('a .yml file and an empty YAML file are accepted', async (t) => {
  const dir = t.testdir({ 'hail.yml': 'mqttPort: 0\n', 'empty.yaml': '# nothing yet\n' })
  t.equal(load(['--config', 'hail.yml'], {}, dir).mqttPort, 0)
  t.equal(load(['--config', 'empty.yaml'], {}, dir).mqttPort, 1883)
})

t.test('an unknown key in a config file is rejected naming the key and the file', async (t) => {
  const dir = t.testdir({
    'top.yaml': 'mqttPort: 1883\nmqtPort: 1884\n',
    'nested.json': JSON.stringify({ limits: { maxQueu: 5 } })
  })
  t.throws(() => load(['--config', 'top.yaml'], {}, dir), {
    constructor: ConfigError,
    code: 'HAIL_ERR_CONFIG',
    message: `config file ${join(dir, 'top.yaml')}: unknown key mqtPort`
  })
  t.throws(() => load(['--config', 'nested.json'], {}, dir), {
    message: `config file ${join(dir, 'nested.json')}: unknown key limits.maxQueu`
  })
})

t.test('a config file with a value of the wrong type is rejected naming the key and the file', async (t) => {
  const dir = t.testdir({ 'hail.yaml': 'mqttPort: off\n' })
  const err = t.throws(() => load(['--config', 'hail.yaml'], {}, dir), { constructor: ConfigError }) as Error
  t.match(err.message, `config file ${join(dir, 'hail.yaml')}: mqttPort:`)
})

t.test('a config file that is missing, malformed, of an unknown type or not a mapping is rejected naming it', async (t) => {
  const dir = t.testdir({
    'bad.json': '{ "mqttPort": ',
    'bad.yaml': 'mqttPort: [1\n',
    'hail.toml': 'mqttPort = 1\n',
    'list.yaml': '- 1\n- 2\n'
  })
  t.throws(() => load(['--config', 'nope.yaml'], {}, dir), { constructor: ConfigError, message: `cannot read config file ${join(dir, 'nope.yaml')}: ENOENT` })
  t.throws(() => load(['--config', 'bad.json'], {}, dir), { message: new RegExp(`^config file ${join(dir, 'bad.json')}: `) })
  t.throws(() => load(['--config', 'bad.yaml'], {}, dir), { message: new RegExp(`^config file ${join(dir, 'bad.yaml')}: `) })
  t.throws(() => load(['--config', 'hail.toml'], {}, dir), { message: /hail\.toml: unknown type '\.toml'/ })
  t.throws(() => load(['--config', 'list.yaml'], {}, dir), { message: /list\.yaml: expected a mapping/ })
})

t.test('a bad port flag is a usage error naming the flag', async (t) => {
  for (const value of ['abc', '70000', '-1', '1.5']) {
    t.throws(() => load(['--mqtt-port', value]), {
      constructor: UsageError,
      code: 'HAIL_ERR_USAGE',
      message: `--mqtt-port: '${value}' is not a port: use 0-65535 (0 picks a free port) or 'off'`
    }, value)
  }
})

t.test("port 'off' turns a listener off and port 0 asks for a free one", async (t) => {
  const config = load(['--http-port', 'off', '--mqtt-port=0'], { HAIL_MQTTS_PORT: 'off' })
  t.equal(config.httpPort, null)
  t.equal(config.mqttPort, 0)
  t.equal(config.mqttsPort, null)
})

t.test('a bad environment value is a config error naming the variable', async (t) => {
  t.throws(() => load([], { HAIL_MQTT_PORT: 'x' }), { constructor: ConfigError, message: /^HAIL_MQTT_PORT: 'x' is not a port/ })
  t.throws(() => load([], { HAIL_ALLOW_ANONYMOUS: 'maybe' }), { message: "HAIL_ALLOW_ANONYMOUS: 'maybe' is not a boolean: use true or false" })
  t.throws(() => load([], { HAIL_LOG_LEVEL: 'loud' }), { message: /^HAIL_LOG_LEVEL: 'loud' is not a log level: use one of fatal, error/ })
  t.throws(() => load([], { HAIL_MAX_QUEUE: '0' }), { message: /^HAIL_MAX_QUEUE: '0' is out of range: too small/ })
})

t.test('HAIL_ALLOW_ANONYMOUS takes true, false, 1 and 0, and an empty variable counts as unset', async (t) => {
  t.equal(load([], { HAIL_ALLOW_ANONYMOUS: 'true' }).allowAnonymous, true)
  t.equal(load([], { HAIL_ALLOW_ANONYMOUS: 'FALSE' }).allowAnonymous, false)
  t.equal(load([], { HAIL_ALLOW_ANONYMOUS: '1' }).allowAnonymous, true)
  t.equal(load([], { HAIL_ALLOW_ANONYMOUS: '0' }).allowAnonymous, false)
  t.equal(load([], { HAIL_MQTT_PORT: '' }).mqttPort, 1883)
  t.equal(load(['--allow-anonymous']).allowAnonymous, true)
  t.equal(load(['--allow-anonymous=false'], { HAIL_ALLOW_ANONYMOUS: 'true' }).allowAnonymous, false)
})

t.test('a limit out of the schema range is rejected naming the flag', async (t) => {
  t.throws(() => load(['--max-topic-levels', '500']), {
    constructor: UsageError,
    message: "--max-topic-levels: '500' is out of range: too big: expected number to be <=100"
  })
  t.throws(() => load(['--max-queue', 'lots']), { message: "--max-queue: 'lots' is not a whole number" })
  t.throws(() => load(['--log-level', 'loud']), { message: /^--log-level: 'loud' is not a log level/ })
  t.throws(() => load(['--log-format', 'xml']), { message: /^--log-format: 'xml' is not a log format: use one of json, pretty$/ })
  t.equal(load(['--log-format', 'pretty']).logFormat, 'pretty')
  t.equal(load([]).logFormat, 'json', 'JSON lines by default')
})

t.test('every limit has a flag and a variable', async (t) => {
  const config = load([
    '--max-packet-size', '1000', '--max-topic-levels', '2', '--max-inflight', '3', '--max-queue', '4',
    '--drain-timeout', '5', '--connect-timeout', '6'
  ], { HAIL_MAX_CLIENT_ID_LENGTH: '7', HAIL_ALLOW_CONTROL_CHARACTERS: 'true', HAIL_SEND_BUFFER: '65536' })
  t.same(config.limits, {
    maxPacketSize: 1000, maxTopicLevels: 2, maxInflight: 3, maxQueue: 4, drainTimeout: 5, sendBuffer: 65536, connectTimeout: 6, maxClientIdLength: 7, allowControlCharacters: true
  })
  t.equal(load(['--send-buffer', '1048576']).limits.sendBuffer, 1048576)
  t.equal(load(['--allow-control-characters']).limits.allowControlCharacters, true)
})

t.test('an unknown option, a missing value or a stray argument is a usage error naming it', async (t) => {
  t.throws(() => load(['--foo']), { constructor: UsageError, message: "unknown option '--foo'" })
  t.throws(() => load(['--foo=1']), { message: "unknown option '--foo'" })
  t.throws(() => load(['-x']), { message: "unknown option '-x'" })
  t.throws(() => load(['--mqtt-prot', '1884']), { constructor: UsageError, message: "unknown option '--mqtt-prot': did you mean --mqtt-port?" })
  t.throws(() => load(['--max-queu=5']), { message: "unknown option '--max-queu': did you mean --max-queue?" })
  t.throws(() => load(['--no-alow-anonymous']), { message: "unknown option '--no-alow-anonymous': did you mean --no-allow-anonymous?" })
  t.throws(() => load(['--mqts-port', '1']), { message: "unknown option '--mqts-port': did you mean one of --mqtt-port, --mqtts-port?" })
  t.throws(() => load(['-mqtt-port', '1']), { message: /^unknown option '-m'$/ }, 'a single dash is short options: no guess')
  t.throws(() => load(['--mqtt-port']), { message: "option '--mqtt-port' needs a value, as in --mqtt-port PORT" })
  t.throws(() => load(['--mqtt-port', '--http-port', '1']), { message: "option '--mqtt-port' needs a value, as in --mqtt-port PORT" })
  t.throws(() => load(['--data=']), { message: '--data: the value is empty' })
  t.throws(() => load(['extra']), { message: "unexpected argument 'extra'" })
})

t.test('--tls-cert without --tls-key is rejected naming both, from flags, env or file', async (t) => {
  t.throws(() => load(['--tls-cert', 'cert.pem']), {
    constructor: ConfigError,
    message: '--tls-cert is set but not --tls-key (HAIL_TLS_KEY): TLS needs both a certificate and a key'
  })
  t.throws(() => load([], { HAIL_TLS_KEY: 'key.pem' }), {
    message: 'HAIL_TLS_KEY is set but not --tls-cert (HAIL_TLS_CERT): TLS needs both a certificate and a key'
  })
  const dir = t.testdir({ 'hail.yaml': 'tls:\n  cert: cert.pem\n' })
  t.throws(() => load(['-c', 'hail.yaml'], {}, dir), { message: /hail\.yaml: tls\.key: / })
})

t.test('the TLS certificate and key may come from different sources', async (t) => {
  const dir = t.testdir({ 'hail.yaml': 'tls:\n  cert: file-cert.pem\n  key: file-key.pem\n' })
  const config = load(['-c', 'hail.yaml', '--tls-cert', '/etc/cert.pem'], {}, dir)
  t.same(config.tls, { cert: '/etc/cert.pem', key: join(dir, 'file-key.pem') })
  t.same(load(['--tls-key', 'k.pem'], { HAIL_TLS_CERT: 'c.pem' }).tls, { cert: '/srv/hail/c.pem', key: '/srv/hail/k.pem' })
})

t.test('relative paths from flags and env resolve against the cwd, from a file against its directory', async (t) => {
  const fromFlags = load(['--data', 'data', '--acl', '../acl.conf', '--tls-cert', 'tls/cert.pem', '--tls-key', '/abs/key.pem'])
  t.equal(fromFlags.dataDir, '/srv/hail/data')
  t.equal(fromFlags.acl, '/srv/acl.conf')
  t.same(fromFlags.tls, { cert: '/srv/hail/tls/cert.pem', key: '/abs/key.pem' })
  t.equal(load([], { HAIL_DATA: 'var/hail' }).dataDir, '/srv/hail/var/hail')

  const dir = t.testdir({ etc: { 'hail.yaml': 'dataDir: data\nacl: acl.conf\ntls: { cert: c.pem, key: /k.pem }\n' } })
  const fromFile = load(['--config', 'etc/hail.yaml'], {}, dir)
  t.equal(fromFile.dataDir, resolve(dir, 'etc/data'))
  t.equal(fromFile.acl, resolve(dir, 'etc/acl.conf'))
  t.same(fromFile.tls, { cert: resolve(dir, 'etc/c.pem'), key: '/k.pem' })
})

t.test('unknownEnvVars() lists HAIL_* variables that set nothing', async (t) => {
  t.same(unknownEnvVars({ HAIL_MQTT_PORT: '1', HAIL_MQTT_PROT: '1', PATH: '/bin', HAIL_DATA: 'x', HAIL_DAT: 'y' }), ['HAIL_DAT', 'HAIL_MQTT_PROT'])
})

t.test('suggestEnvVar() names the variable a misspelt one most likely meant', async (t) => {
  t.equal(suggestEnvVar('HAIL_MQTT_PROT'), 'HAIL_MQTT_PORT')
  t.equal(suggestEnvVar('HAIL_DAT'), 'HAIL_DATA')
  t.equal(suggestEnvVar('HAIL_MQTS_PORT'), 'HAIL_MQTTS_PORT or HAIL_MQTT_PORT')
  t.equal(suggestEnvVar('HAIL_SOMETHING_ELSE'), undefined)
})
