import t from 'tap'
import { checkString } from '../../../broker/wire/check-string.js'
import { rejections } from '../../../broker/wire/rejections.js'

const check = (hex: string) => {
  const buf = Buffer.from('ff' + hex.replace(/\s+/g, '') + 'ff', 'hex') // bytes around it must not count
  return checkString(buf, 1, buf.length - 1)
}

t.test('valid UTF-8 strings pass, whatever their characters', async (t) => {
  const valid = {
    empty: '',
    ascii: Buffer.from('a/b/c').toString('hex'),
    'two bytes (é)': 'c3 a9',
    'three bytes (€)': 'e2 82 ac',
    'four bytes (😀)': 'f0 9f 98 80',
    'U+FFFD itself': 'ef bf bd',
    'U+10FFFF, the last code point': 'f4 8f bf bf',
    'U+FEFF, which must not be stripped [MQTT-1.5.3-3]': 'ef bb bf'
  }
  for (const [name, hex] of Object.entries(valid)) t.equal(check(hex), null, name)
})

t.test('ill-formed UTF-8 is refused [MQTT-1.5.3-1]', async (t) => {
  const invalid = {
    'a lone continuation byte': '61 80',
    'a truncated sequence': 'e2 82',
    'a truncated sequence before ASCII': 'e2 82 61',
    'an overlong "/"': 'c0 af',
    'an overlong three-byte form': 'e0 80 af',
    'an encoded surrogate (U+D800)': 'ed a0 80',
    'past U+10FFFF': 'f4 90 80 80',
    'byte 0xff': '61 ff'
  }
  for (const [name, hex] of Object.entries(invalid)) t.equal(check(hex), rejections.invalidUtf8, name)
})

t.test('U+0000 is refused [MQTT-1.5.3-2]', async (t) => {
  t.equal(check('61 00 62'), rejections.nullChar)
  t.equal(check('00'), rejections.nullChar)
})
