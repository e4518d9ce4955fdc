import t from 'tap'
import { loadConfig } from '../../bin/load-config.js'
import { callsSchema, parseCallsConfig } from '../../bridge/index.js'

t.test('defaults: ports 40000-40999, loopback announced, no ICE servers, 30 s ring', async (t) => {
  t.match(callsSchema.parse({}), {
    mediaPortMin: 40000,
    mediaPortMax: 40999,
    mediaListenAddress: '0.0.0.0',
    announcedAddresses: ['127.0.0.1'],
    iceServers: [],
    ringTimeoutMs: 30_000,
    invitesPerMinute: 10,
    inviteBurst: 5,
    maxParticipants: 16,
    statsIntervalMs: 2000
  })
})

t.test('flags and HAIL_* variables set the calls keys; comma lists become arrays', async (t) => {
  const config = loadConfig({
    argv: ['--media-port-min', '45000', '--media-port-max', '45100', '--media-announce', '10.0.0.2, 192.0.2.1', '--ring-timeout', '5000'],
    env: { HAIL_ICE_SERVERS: 'stun:stun.example.org:3478,turn:turn.example.org', HAIL_MAX_CALL_PARTICIPANTS: '4' },
    cwd: '/'
  })
  t.match(config.calls, {
    mediaPortMin: 45000,
    mediaPortMax: 45100,
    announcedAddresses: ['10.0.0.2', '192.0.2.1'],
    ringTimeoutMs: 5000,
    maxParticipants: 4,
    iceServers: [{ urls: 'stun:stun.example.org:3478' }, { urls: 'turn:turn.example.org' }]
  })
})

t.test('bad calls options fail with one line naming the key', async (t) => {
  t.throws(() => parseCallsConfig({ mediaPortMin: 41000, mediaPortMax: 40000 }), { code: 'HAIL_ERR_CONFIG', message: /mediaPortMin must not be above mediaPortMax/ })
  t.throws(() => parseCallsConfig({ iceServers: ['http://example.org'] }), { code: 'HAIL_ERR_CONFIG', message: /calls\.iceServers/ })
  t.throws(() => parseCallsConfig({ ringTimeout: 5 }), { code: 'HAIL_ERR_CONFIG', message: /unknown key calls\.ringTimeout/ })
  t.throws(() => parseCallsConfig({ announcedAddresses: [] }), { code: 'HAIL_ERR_CONFIG', message: /announcedAddresses/ })
  t.throws(() => loadConfig({ argv: ['--max-call-participants', '1'], env: {}, cwd: '/' }), { message: /max-call-participants/ })
})
