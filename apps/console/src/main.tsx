import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { setToken, token } from './api.ts'
import { Fleet } from './fleet.tsx'
import { Login } from './login.tsx'
import { TenantPage } from './tenant.tsx'
import { Tenants } from './tenants.tsx'
import './styles.css'

/** The view named by the URL's hash: `#/tenants`, `#/tenants/<slug>`, `#/fleet`. */
function useRoute(): string {
  const [route, setRoute] = useState(() => window.location.hash.slice(1) || '/tenants')
  useEffect(() => {
    const changed = () => setRoute(window.location.hash.slice(1) || '/tenants')
    window.addEventListener('hashchange', changed)
    return () => window.removeEventListener('hashchange', changed)
  }, [])
  return route
}

function useToken(): string | null {
  const [value, setValue] = useState(token)
  useEffect(() => {
    const changed = () => setValue(token())
    window.addEventListener('tenantry-token', changed)
    return () => window.removeEventListener('tenantry-token', changed)
  }, [])
  return value
}

function App() {
  const route = useRoute()
  const signedIn = useToken()
  if (signedIn === null) return <Login />
  const tenant = /^\/tenants\/([^/]+)$/.exec(route)
  return (
    <div className="app">
      <header>
        <strong>Tenantry</strong>
        <nav>
          <a href="#/tenants" className={route.startsWith('/tenants') ? 'active' : ''}>Tenants</a>
          <a href="#/fleet" className={route === '/fleet' ? 'active' : ''}>Fleet</a>
        </nav>
        <button type="button" className="link" onClick={() => setToken(null)}>Sign out</button>
      </header>
      <main>
        {tenant !== null ? <TenantPage key={tenant[1]} slug={decodeURIComponent(tenant[1]!)} /> : route === '/fleet' ? <Fleet /> : <Tenants />}
      </main>
    </div>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
