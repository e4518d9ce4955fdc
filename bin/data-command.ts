import { resolve } from 'node:path'
import { COUNTED_STORES, formatRepairReport, repairDataDir, restoreDataDir, type BackupReport, type StoreCounts } from '../index.js'
import { adminRequest } from './admin-client.js'
import { parseAdminArgs } from './admin-args.js'

interface Io {
  env: NodeJS.ProcessEnv
  cwd: string
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

/** A backup copies every entry once; give a big database its time. */
const BACKUP_TIMEOUT = 60 * 60_000

/** `hail backup DIR`: a consistent copy of the data directory, through the daemon if one runs. */
export async function backupCommand (args: string[], io: Io): Promise<number> {
  const { dataDir, redis, positionals } = parseAdminArgs(args, { command: 'backup', positionals: ['DIR'] }, io)
  const dir = resolve(io.cwd, positionals[0]!)
  const report = await adminRequest({ dataDir, redis }, 'data.backup', { dir }, BACKUP_TIMEOUT) as BackupReport
  io.stdout.write(`backed up ${report.source} into ${report.dir} (write batch #${report.seal.batch})\n${counts(report.stores, report.files)}`)
  return 0
}

/** `hail restore DIR`: a backup into a data directory without a database, with no daemon on it. */
export async function restoreCommand (args: string[], io: Io): Promise<number> {
  const { dataDir, positionals } = parseAdminArgs(args, { command: 'restore', positionals: ['DIR'] }, io)
  const report = await restoreDataDir(resolve(io.cwd, positionals[0]!), dataDir)
  io.stdout.write(`restored ${report.dir} from the backup of ${report.backup.created} (write batch #${report.backup.seal.batch})\n${counts(report.stores, report.files)}`)
  return 0
}

/** `hail repair`: salvage a damaged data directory and report what was lost; exit 1 when it is still damaged. */
export async function repairCommand (args: string[], io: Io): Promise<number> {
  const { dataDir } = parseAdminArgs(args, { command: 'repair', positionals: [] }, io)
  const report = await repairDataDir(dataDir)
  io.stdout.write(formatRepairReport(report))
  return report.remaining.length === 0 ? 0 : 1
}

function counts (stores: StoreCounts, files: number): string {
  return COUNTED_STORES.map(([name]) => `  ${name.padEnd(14)} ${String(stores.counts[name]).padStart(8)}\n`).join('') +
    `  ${'stored files'.padEnd(14)} ${String(files).padStart(8)}\n`
}
