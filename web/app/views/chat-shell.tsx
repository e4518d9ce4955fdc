import { useEffect, useState } from 'preact/hooks'
import { navigate, route } from '../route.js'
import { signOut } from '../session/session.js'
import { useStores } from './app-context.js'
import { CallScreen } from './call-screen.js'
import { ConnectionBanner, Notice } from './banners.js'
import { ConversationList } from './conversation-list.js'
import { ConversationView } from './conversation-view.js'
import { Chart, Logo, Plus, SignOutIcon } from './icons.js'
import { IncomingCalls } from './incoming-calls.js'
import { NewConversation, type NewKind } from './new-conversation.js'

/** The chat: the list of conversations beside (or, on a phone, instead of) the open one, and the calls over both. */
export function ChatShell () {
  const { chat, calls, session } = useStores()
  const [creating, setCreating] = useState<NewKind | null>(null)
  const [menu, setMenu] = useState(false)
  const selected = chat.selected.value

  // /call opens the call dialog (the old call page's place: call a user by name).
  useEffect(() => {
    if (route.value.startsWith('/call')) setCreating('call')
  }, [])

  const choose = (kind: NewKind): void => {
    setMenu(false)
    setCreating(kind)
  }

  return (
    <div class='shell' data-pane={selected === null ? 'list' : 'conversation'}>
      <aside class='sidebar' aria-label='Conversations'>
        <header class='sidebar-head'>
          <Logo />
          <div class='who'>
            <strong id='me'>{session.user}</strong>
            <span class='muted small'>this tab</span>
          </div>
          {session.admin && (
            <a
              class='icon-button' href='/dashboard' title='Dashboard' aria-label='Dashboard'
              onClick={(e) => { e.preventDefault(); navigate('/dashboard') }}
            ><Chart />
            </a>
          )}
          <div class='menu-anchor'>
            <button
              type='button' class='icon-button' id='new-menu' aria-haspopup='menu' aria-expanded={menu} aria-label='New conversation' title='New conversation'
              onClick={() => setMenu(!menu)}
            ><Plus />
            </button>
            {menu && (
              <div class='menu' role='menu' onKeyDown={(e) => { if (e.key === 'Escape') setMenu(false) }}>
                <button type='button' role='menuitem' autofocus onClick={() => choose('direct')}>New chat</button>
                <button type='button' role='menuitem' onClick={() => choose('group')}>New group</button>
                <button type='button' role='menuitem' onClick={() => choose('channel')}>New channel</button>
                <button type='button' role='menuitem' onClick={() => choose('follow')}>Follow a channel</button>
                <button type='button' role='menuitem' onClick={() => choose('call')}>Call someone</button>
              </div>
            )}
          </div>
          <button
            type='button' class='icon-button' id='sign-out' aria-label='Sign out' title='Sign out'
            onClick={() => signOut()}
          ><SignOutIcon />
          </button>
        </header>
        <ConversationList />
      </aside>
      <main class='pane'>
        {selected === null
          ? <div class='empty muted'><p>Choose a conversation, or start one with +.</p></div>
          : <ConversationView key={selected} conv={selected} />}
      </main>
      <ConnectionBanner />
      <Notice />
      <IncomingCalls />
      <CallScreen />
      {/* A call that rings or runs closes the dialog: a modal would make the call's buttons inert. */}
      {creating !== null && calls.incoming.value.length === 0 && calls.active.value === null && <NewConversation kind={creating} onClose={() => { setCreating(null); if (route.value.startsWith('/call')) navigate('/') }} />}
    </div>
  )
}
