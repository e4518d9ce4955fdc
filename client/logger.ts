export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/**
 * The SDK never writes to the console; give it this to see what it does.
 * Adapts to pino as `(level, msg, ctx) => pino[level](ctx ?? {}, msg)`.
 */
export type Logger = (level: LogLevel, message: string, context?: Record<string, unknown>) => void
