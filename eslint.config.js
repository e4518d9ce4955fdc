import neostandard from 'neostandard'
import globals from 'globals'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'bench/results/**', 'node_modules/**', '.tap/**'] }),
  {
    rules: {
      // `void promise` marks a promise left running on purpose (its failure is handled inside); elsewhere void is refused.
      'no-void': ['error', { allowAsStatement: true }],
      // Input checks match control characters on purpose (MQTT strings, SDP, file names, topic levels).
      'no-control-regex': 'off'
    }
  },
  {
    files: ['web/**/*.js'],
    languageOptions: { globals: globals.browser }
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.mjs'],
    rules: {
      // Flow-control loops wait on counters that acknowledgements change between awaits.
      'no-unmodified-loop-condition': 'off'
    }
  }
]
