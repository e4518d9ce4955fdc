#!/usr/bin/env node
import { HailError, hailVersion as version } from '../index.js'
import { backupCommand, repairCommand, restoreCommand } from './data-command.js'
import { UsageError } from './errors.js'
import { helpText } from './help.js'
import { loadConfig, unknownEnvVars } from './load-config.js'
import { runDaemon } from './run-daemon.js'
import { didYouMean } from './suggest.js'
import { tokenCommand } from './token-command.js'
import { userCommand } from './user-command.js'

/**
 * The `hail` executable: picks a command from argv and runs it. Parsing,
 * configuration and the daemon live in their own files so they can be tested
 * without spawning.
 */

type Command = (args: string[]) => Promise<number>

/** Subcommands by name. */
const commands: Record<string, Command> = {
  start,
  help: async () => print(helpText()),
  // Admin tasks: through the daemon's admin socket when it runs, on the data directory otherwise.
  user: async (args) => wantsHelp(args) ? print(helpText()) : await userCommand(args, io()),
  token: async (args) => wantsHelp(args) ? print(helpText()) : await tokenCommand(args, io()),
  // The data directory's safety: a backup goes through the running daemon; repair and restore need it stopped.
  backup: async (args) => wantsHelp(args) ? print(helpText()) : await backupCommand(args, io()),
  restore: async (args) => wantsHelp(args) ? print(helpText()) : await restoreCommand(args, io()),
  repair: async (args) => wantsHelp(args) ? print(helpText()) : await repairCommand(args, io())
}

function io (): { env: NodeJS.ProcessEnv, cwd: string, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream } {
  return { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr }
}

/** The arguments before any `--`. */
function flagsOf (args: string[]): string[] {
  return args.slice(0, args.includes('--') ? args.indexOf('--') : args.length)
}

function wantsHelp (args: string[]): boolean {
  return flagsOf(args).includes('--help') || flagsOf(args).includes('-h')
}

/** Set once the config is known: at debug/trace a startup error prints its stack. */
let verbose = false

async function start (args: string[]): Promise<number> {
  // Before anything is parsed, so `hail --mqtt-port x --help` still helps.
  if (wantsHelp(args)) return print(helpText())
  if (flagsOf(args).includes('--version')) return print(`${version()}\n`)
  const read = (): ReturnType<typeof loadConfig> => loadConfig({ argv: args, env: process.env, cwd: process.cwd() })
  const config = read()
  verbose = config.logLevel === 'debug' || config.logLevel === 'trace'
  // SIGHUP reads the file (and the environment and flags) again, as a start would.
  return await runDaemon(config, { version: version(), unknownEnv: unknownEnvVars(process.env), reloadConfig: read })
}

async function main (argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  // No command, or flags first: `hail --mqtt-port 1884` means `hail start --mqtt-port 1884`.
  const named = first !== undefined && !first.startsWith('-')
  const name = named ? first : 'start'
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (command === undefined) throw new UsageError(`unknown command '${name}'${didYouMean(name, Object.keys(commands))}`)
  return await command(named ? rest : argv)
}

function print (text: string): number {
  process.stdout.write(text)
  return 0
}

/** One line on stderr: the message is meant for the operator, the stack only for a bug report. */
function report (err: unknown): number {
  const known = err instanceof HailError
  const message = err instanceof Error ? err.message : String(err)
  let line = `hail: ${known ? '' : 'unexpected error: '}${message}`
  if (err instanceof UsageError) line += " (run 'hail --help' for usage)"
  else if (!known && !verbose) line += ' (--log-level debug prints the stack)'
  process.stderr.write(`${line}\n`)
  if (verbose && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`)
  return err instanceof UsageError ? 2 : 1
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(report(err))
)
