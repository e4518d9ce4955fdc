export * from './names.js'
export * from './send.js'
export * from './commands.js'
export * from './events.js'
