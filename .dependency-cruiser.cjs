/**
 * The house's seams (DESIGN.md "Parts", STYLE.md "The house this suggests"),
 * checked by `npm run deps` in `npm test`: a change that breaks one fails CI.
 */
const OURS = '^(protocol|broker|media|bridge|server|web|client|bin)/'

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Files that import each other, directly or around a circle, cannot be understood or tested one at a time.',
      from: { pathNot: '^test/' },
      to: { circular: true }
    },
    {
      name: 'protocol-imports-nothing-of-ours',
      severity: 'error',
      comment: 'protocol/ is the wire, shared by server and SDK: it depends on no part of either.',
      from: { path: '^protocol/' },
      to: { path: OURS, pathNot: '^protocol/' }
    },
    {
      name: 'protocol-index-is-dependency-free',
      severity: 'error',
      comment: 'The SDK loads protocol/index.ts in browsers as is: it and what it imports load no package (validators live in protocol/schemas.ts).',
      from: { path: '^protocol/(index|ids|events|error-codes|topics|calls)\\.ts$' },
      to: { dependencyTypesNot: ['type-only'], pathNot: '^protocol/(index|ids|events|error-codes|topics|calls)\\.ts$' }
    },
    {
      name: 'media-imports-werift-only',
      severity: 'error',
      comment: 'media/ is the SFU: werift and plain values in and out, never MQTT, the broker or the bridge.',
      from: { path: '^media/' },
      to: { path: [OURS, '^node_modules/(aedes|mqtt|mqemitter|ioredis)'], pathNot: '^media/' }
    },
    {
      name: 'broker-never-imports-media-bridge-web',
      severity: 'error',
      comment: 'broker/ knows nothing of calls, media or pages; bridge/ plugs calls into it through the IM extension point.',
      from: { path: '^broker/' },
      to: { path: ['^(media|bridge|server|web|client|bin)/', '^node_modules/werift'] }
    },
    {
      name: 'bridge-imports-broker-media-protocol',
      severity: 'error',
      comment: 'bridge/ is the only part that knows both the broker and the media relay; it knows nothing of the assembly, pages or SDK.',
      from: { path: '^bridge/' },
      to: { path: '^(server|web|client|bin)/' }
    },
    {
      name: 'client-imports-protocol-only',
      severity: 'error',
      comment: 'The SDK runs in browsers and other people\'s apps: mqtt and protocol/ only, never server code.',
      from: { path: '^client/' },
      to: { path: ['^(broker|bridge|media|server|web|bin)/', '^node_modules/(aedes|werift|level|ioredis|pino|mqemitter)'] }
    },
    {
      name: 'client-loads-no-validator',
      severity: 'error',
      comment: 'zod stays out of the SDK\'s bundle: the SDK takes only types from protocol/schemas.ts.',
      from: { path: '^client/' },
      to: { dependencyTypesNot: ['type-only'], path: ['^protocol/(schemas|names|send|commands|call-schemas)\\.ts$', '^node_modules/zod/'] }
    },
    {
      name: 'web-imports-client-protocol',
      severity: 'error',
      comment: 'The web app is built on the SDK like any app; it serves itself through the routes it hands the assembly.',
      from: { path: '^web/' },
      to: { path: '^(broker|bridge|media|server|bin)/' }
    },
    {
      name: 'server-assembles-broker-bridge-web',
      severity: 'error',
      comment: 'The assembly composes broker, bridge and web; media is the bridge\'s to make.',
      from: { path: '^server/' },
      to: { path: '^(media|client|bin)/' }
    },
    {
      name: 'bin-uses-the-public-api',
      severity: 'error',
      comment: 'bin/ parses argv and calls the library as an embedding app would: through index.ts.',
      from: { path: '^bin/' },
      to: { path: '^(protocol|broker|media|bridge|server|web|client)/' }
    },
    {
      name: 'parts-meet-through-their-index',
      severity: 'error',
      comment: 'Each part exports through one index.ts (protocol/ also through schemas.ts, media/ its plain types through types.ts, which loads no werift: the bridge\'s public types stay clear of werift\'s); the others import only those.',
      from: { path: '^(protocol|broker|media|bridge|server|web|client)/' },
      to: { path: '^(protocol|broker|media|bridge|server|web|client)/', pathNot: ['^$1/', '^[a-z]+/index\\.ts$', '^protocol/schemas\\.ts$', '^media/types\\.ts$'] }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|bench/results)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.json'] },
    moduleSystems: ['es6', 'cjs']
  }
}
