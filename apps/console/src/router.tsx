import { useEffect, useState, type MouseEvent, type ReactNode } from 'react'

/**
 * The console's client routes: paths under `/admin` (`/admin/tenants/acme`,
 * `/admin/fleet`), which the SaaS answers with this page. A link of the
 * earlier hash form (`/admin#/tenants/acme`) is moved to its path.
 */
const BASE = '/admin'
const CHANGED = 'tenantry-route'

function current(): string {
  const legacy = window.location.hash.startsWith('#/') ? window.location.hash.slice(1) : null
  if (legacy !== null) window.history.replaceState(null, '', `${BASE}${legacy}`)
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : ''
  return path === '' || path === '/' ? '/tenants' : path.replace(/\/+$/, '')
}

/**
 * Goes to a view (`/tenants`, `/tenants/<slug>`, `/fleet`) without reloading the page.
 *
 * @example
 * navigate(`/tenants/${encodeURIComponent(slug)}`)
 */
export function navigate(to: string): void {
  window.history.pushState(null, '', `${BASE}${to}`)
  window.dispatchEvent(new Event(CHANGED))
}

/**
 * The view named by the URL, kept current on navigate() and the browser's back and forward.
 *
 * @example
 * const route = useRoute() // '/tenants/acme' at /admin/tenants/acme
 */
export function useRoute(): string {
  const [route, setRoute] = useState(current)
  useEffect(() => {
    const changed = () => setRoute(current())
    window.addEventListener('popstate', changed)
    window.addEventListener(CHANGED, changed)
    return () => {
      window.removeEventListener('popstate', changed)
      window.removeEventListener(CHANGED, changed)
    }
  }, [])
  return route
}

/**
 * A link to a view: a real href (a new tab works), followed in place on a plain click.
 *
 * @example
 * <Link to="/fleet">Fleet</Link>
 */
export function Link({ to, className, children }: { to: string; className?: string; children: ReactNode }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(to)
  }
  return <a href={`${BASE}${to}`} className={className} onClick={follow}>{children}</a>
}
