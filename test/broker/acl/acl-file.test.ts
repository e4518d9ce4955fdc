import t, { type Test } from 'tap'
import { parseAclFile } from '../../../broker/acl/acl-file.js'
import { AclError } from '../../../broker/errors.js'

/** The AclError thrown for `text`, checked to carry the ACL code. */
function parseError (t: Test, text: string, source = 'acl.txt'): AclError {
  try {
    parseAclFile(text, source)
  } catch (err) {
    t.type(err, AclError)
    t.equal((err as AclError).code, 'HAIL_ERR_ACL')
    return err as AclError
  }
  throw new Error(`no error for ${JSON.stringify(text)}`)
}

t.test('a file with sections, patterns, comments and blank lines parses into rules in file order', async (t) => {
  const file = parseAclFile([
    '# anonymous clients',
    'topic read public/#',
    '',
    '  # an indented comment',
    'user alice',
    'topic home/alice/#',
    'topic write out/alice',
    'topic deny home/alice/keys',
    'pattern read devices/%c/config',
    'user bob smith',
    'topic read a topic with spaces'
  ].join('\n'), 'acl.txt')
  t.equal(file.source, 'acl.txt')
  t.strictSame(file.rules.map((r) => [r.kind, r.user, r.access, r.filter, r.line]), [
    ['topic', null, 'read', 'public/#', 2],
    ['topic', 'alice', 'readwrite', 'home/alice/#', 6],
    ['topic', 'alice', 'write', 'out/alice', 7],
    ['topic', 'alice', 'deny', 'home/alice/keys', 8],
    ['pattern', null, 'read', 'devices/%c/config', 9],
    ['topic', 'bob smith', 'read', 'a topic with spaces', 11]
  ])
  t.strictSame(file.warnings, [])
})

t.test('Windows line endings, a byte-order mark and tabs are accepted', async (t) => {
  const file = parseAclFile('\uFEFFuser alice\r\ntopic\tread\ta/#\r\n')
  t.strictSame(file.rules.map((r) => [r.user, r.access, r.filter]), [['alice', 'read', 'a/#']])
})

t.test('an unknown access word is an error naming the source, the line and the word', async (t) => {
  const err = parseError(t, 'user alice\n\ntopic rw a/b\n')
  t.equal(err.message, "acl.txt:3: unknown access 'rw' (expected read, write, readwrite or deny)")
})

t.test('an unknown keyword is an error naming its line', async (t) => {
  t.match(parseError(t, 'topic a\ntopics read a/b').message, /^acl\.txt:2: unknown keyword 'topics'/)
  t.match(parseError(t, 'Topic read a/b').message, /^acl\.txt:1: unknown keyword 'Topic'/, 'keywords are case-sensitive')
})

t.test('a rule without a topic filter is an error, even when the access word could be a topic', async (t) => {
  t.equal(parseError(t, 'topic').message, "acl.txt:1: missing topic filter after 'topic'")
  t.equal(parseError(t, 'pattern   ').message, "acl.txt:1: missing topic filter after 'pattern'")
  t.equal(parseError(t, '\ntopic read').message, "acl.txt:2: missing topic filter after 'read'")
  t.equal(parseError(t, 'topic deny').message, "acl.txt:1: missing topic filter after 'deny'")
})

t.test('a user line without a name is an error', async (t) => {
  t.equal(parseError(t, 'user   ').message, "acl.txt:1: missing username after 'user'")
})

t.test('misplaced wildcards are errors that cite the clause', async (t) => {
  t.match(parseError(t, 'topic read a/#/b').message, /^acl\.txt:1: invalid topic filter 'a\/#\/b': '#' must be the last level \[MQTT-4\.7\.1-2\]/)
  t.match(parseError(t, 'topic read a/b#').message, /'#' must occupy a whole level/)
  t.match(parseError(t, 'topic read a/+b').message, /'\+' must occupy a whole level \[MQTT-4\.7\.1-3\]/)
  t.match(parseError(t, 'pattern write x/%u+').message, /'\+' must occupy a whole level/)
  t.match(parseError(t, 'topic read a/b # note').message, /^acl\.txt:1: invalid topic filter 'a\/b # note'/, 'there are no trailing comments')
})

t.test('%u and %c in a topic line are an error, not a literal topic', async (t) => {
  t.match(parseError(t, 'user alice\ntopic read home/%u/#').message, /^acl\.txt:2: '%u' and '%c' are substituted only in 'pattern' lines/)
})

t.test('a pattern without placeholders and a rule on a reserved topic parse with a warning', async (t) => {
  const file = parseAclFile('pattern read news/#\nuser admin\ntopic readwrite $SYS/#\ntopic read im/inbox/+\ntopic write $SYS/x\ntopic read $SYS/broker/#', 'x.acl')
  t.equal(file.rules.length, 5)
  t.strictSame(file.warnings, [
    "x.acl:1: pattern 'news/#' has no %u or %c: it applies to every client alike",
    "x.acl:3: '$SYS/#' is the broker's status ($SYS/): only the broker publishes there, this rule grants reading only",
    "x.acl:4: 'im/inbox/+' is reserved (im/, $hail/): Hail authorizes it, this rule has no effect",
    "x.acl:5: '$SYS/x' is the broker's status ($SYS/): only the broker publishes there, this rule has no effect"
  ], 'a read rule on $SYS/ is honoured without a warning')
})

t.test('an empty file has no rules', async (t) => {
  t.strictSame(parseAclFile('').rules, [])
  t.strictSame(parseAclFile('# nothing\n\n').rules, [])
})
