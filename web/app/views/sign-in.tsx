import { useState } from 'preact/hooks'
import { signIn, SignInError } from '../session/session.js'
import { Logo } from './icons.js'

export function SignIn () {
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const data = new FormData(form)
    setBusy(true)
    setError('')
    try {
      await signIn(String(data.get('user') ?? ''), String(data.get('password') ?? ''))
    } catch (err) {
      const e = err as SignInError
      setError(`Sign-in failed: ${e.message} (${e.code})`)
      setBusy(false)
      ;(form.elements.namedItem('password') as HTMLInputElement | null)?.select()
    }
  }

  return (
    <main class='sign-in'>
      <form id='login' class='card' onSubmit={submit} aria-labelledby='sign-in-title'>
        <div class='brand'><Logo /><h1 id='sign-in-title'>Hail</h1></div>
        <p class='muted'>Sign in to chat and call.</p>
        <label>User name
          <input name='user' autocomplete='username' autocapitalize='none' spellcheck={false} required autofocus />
        </label>
        <label>Password
          <input name='password' type='password' autocomplete='current-password' required />
        </label>
        <button type='submit' class='primary' disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
        <p id='status' role='alert' class='error'>{error}</p>
      </form>
    </main>
  )
}
