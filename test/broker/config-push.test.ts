import t from 'tap'
import { parseConfig } from '../../broker/config.js'

t.test('push is off by default, with documented defaults', async (t) => {
  t.same(parseConfig({}).push, { url: null, secret: null, batchMs: 500, maxAttempts: 5, backoffMs: 1000, timeoutMs: 10_000, maxQueue: 10_000 })
})

t.test('push takes an http(s) URL and refuses unknown keys and other schemes', async (t) => {
  t.equal(parseConfig({ push: { url: 'https://gw.example/push', secret: 's' } }).push.url, 'https://gw.example/push')
  t.throws(() => parseConfig({ push: { url: 'ftp://gw.example/' } }), { code: 'HAIL_ERR_CONFIG', message: /push\.url/ })
  t.throws(() => parseConfig({ push: { url: 'not a url' } }), { code: 'HAIL_ERR_CONFIG', message: /push\.url/ })
  t.throws(() => parseConfig({ push: { retries: 3 } }), { code: 'HAIL_ERR_CONFIG', message: /unknown key push\.retries/ })
  t.throws(() => parseConfig({ push: { maxAttempts: 0 } }), { code: 'HAIL_ERR_CONFIG', message: /push\.maxAttempts/ })
})
