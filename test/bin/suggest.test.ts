import t from 'tap'
import { didYouMean, editDistance, similarNames } from '../../bin/suggest.js'
import { startOptions } from '../../bin/options.js'

t.test('editDistance() counts inserts, deletes, substitutions and a swap of neighbours as one edit each', async (t) => {
  t.equal(editDistance('mqtt-port', 'mqtt-port'), 0)
  t.equal(editDistance('mqtt-prot', 'mqtt-port'), 1, 'a swap of two neighbours is one edit')
  t.equal(editDistance('mqttport', 'mqtt-port'), 1, 'an insert')
  t.equal(editDistance('mqtt-portt', 'mqtt-port'), 1, 'a delete')
  t.equal(editDistance('mqtt_port', 'mqtt-port'), 1, 'a substitution')
  t.equal(editDistance('ca', 'abc'), 3, 'optimal string alignment: a swapped pair is not edited again')
  t.equal(editDistance('', 'ab'), 2)
  t.ok(editDistance('data', 'allow-control-characters') > 2, 'far apart lengths are past the cut-off')
})

t.test('similarNames() keeps the nearest names within two edits, sorted, and no one-letter names', async (t) => {
  const flags = startOptions.map((spec) => spec.flag)
  t.same(similarNames('mqtt-prot', flags), ['mqtt-port'])
  t.same(similarNames('mqts-port', flags), ['mqtt-port', 'mqtts-port'], 'every name at the best distance')
  t.same(similarNames('mqtt-pot', flags), ['mqtt-port'], 'the nearer name wins over one two edits away')
  t.same(similarNames('foo', flags), [], 'nothing close')
  t.same(similarNames('xy', ['xz', 'x']), ['xz'], 'one of two letters changed is half alike; x is one letter and never offered')
  t.same(similarNames('ab', ['cd']), [], 'two of two letters changed is not 40 % alike')
  t.same(similarNames('c', ['c', 'config']), [], 'the word itself and one-letter names are never offered')
})

t.test('didYouMean() ends an error line, with the prefix put back on each name', async (t) => {
  t.equal(didYouMean('mqtt-prot', ['mqtt-port', 'http-port'], '--'), ': did you mean --mqtt-port?')
  t.equal(didYouMean('mqts-port', ['mqtt-port', 'mqtts-port'], '--'), ': did you mean one of --mqtt-port, --mqtts-port?')
  t.equal(didYouMean('frobnicate', ['start', 'user', 'token']), '')
})
