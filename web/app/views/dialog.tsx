import type { ComponentChildren } from 'preact'
import { useEffect, useRef } from 'preact/hooks'

/** A modal dialog (the platform's <dialog>: focus kept inside, Escape closes). */
export function Dialog ({ title, onClose, children, id }: { title: string, onClose: () => void, children: ComponentChildren, id?: string }) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const el = ref.current
    if (el !== null && !el.open) el.showModal()
    return () => el?.close()
  }, [])
  return (
    <dialog ref={ref} class='dialog' id={id} aria-labelledby='dialog-title' onCancel={(e) => { e.preventDefault(); onClose() }}>
      <h2 id='dialog-title'>{title}</h2>
      {children}
    </dialog>
  )
}
