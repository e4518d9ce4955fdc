import { execFile } from 'node:child_process'
import { HAIL_BIN } from './daemon.js'

export interface HailRun {
  /** The exit code; null when the command had to be killed (it ran past `timeoutMs`, e.g. a daemon that started). */
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `hail ARGS` as an operator would, with `stdin` on its standard input; kills it after `timeoutMs`. */
export function hail (args: string[], options: { stdin?: string, timeoutMs?: number } = {}): Promise<HailRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [HAIL_BIN, ...args], { timeout: options.timeoutMs ?? 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : (err as { code?: number | string }).code
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr })
    })
    child.stdin!.end(options.stdin ?? '')
  })
}
