import { UserError } from '../index.js'
import { UsageError } from './errors.js'

export interface ReadPasswordOptions {
  /** Read one line from stdin (`--password-stdin`) instead of prompting on the terminal. */
  fromStdin: boolean
  /** Prompt twice and insist both match, as when a password is set. */
  confirm: boolean
  input?: NodeJS.ReadStream
  /** Prompts go to stderr, so stdout stays clean for scripts. */
  output?: NodeJS.WriteStream
}

/**
 * A new password: one line from stdin, or typed at a terminal prompt
 * without echo. Ctrl-C at the prompt ends the process as SIGINT does (130).
 */
export async function readPassword (options: ReadPasswordOptions): Promise<string> {
  const input = options.input ?? process.stdin
  const output = options.output ?? process.stderr
  if (options.fromStdin) return await readLine(input)
  if (!input.isTTY) throw new UsageError('no terminal to ask for the password on: give it on stdin with --password-stdin')
  const password = await prompt(input, output, 'Password: ')
  if (options.confirm && await prompt(input, output, 'Repeat password: ') !== password) {
    throw new UserError('HAIL_ERR_BAD_PASSWORD', 'the two passwords typed differ')
  }
  return password
}

/** The first line of the stream, without its line ending; the rest is left unread. */
function readLine (input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const finish = (): void => {
      input.off('data', onData).off('end', finish).off('error', reject)
      input.pause()
      // Only the first line counts; a trailing \r from a Windows-made file is not part of it.
      resolve(text.split('\n')[0]!.replace(/\r$/, ''))
    }
    const onData = (chunk: string): void => {
      text += chunk
      if (text.includes('\n')) finish()
    }
    input.setEncoding('utf8')
    input.on('data', onData).on('end', finish).on('error', reject)
    input.resume()
  })
}

function prompt (input: NodeJS.ReadStream, output: NodeJS.WriteStream, question: string): Promise<string> {
  return new Promise((resolve) => {
    let chars: string[] = []
    // Echo off before the prompt shows, or what is typed at once would echo.
    input.setRawMode(true)
    output.write(question)
    input.setEncoding('utf8')
    const finish = (): void => {
      input.off('data', onData)
      input.setRawMode(false)
      input.pause()
      output.write('\n')
    }
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish()
          return resolve(chars.join(''))
        }
        if (ch === '\u0003') {
          finish()
          process.kill(process.pid, 'SIGINT')
          return
        }
        if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1)
        else if (ch === '\u001b') return // an arrow or function key: drop the rest of its sequence
        else if (ch >= ' ') chars.push(ch)
      }
    }
    input.on('data', onData)
    input.resume()
  })
}
