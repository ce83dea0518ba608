import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { setToken, token } from './api.ts'
import { Fleet } from './fleet.tsx'
import { Login } from './login.tsx'
import { Link, useRoute } from './router.tsx'
import { TenantPage } from './tenant.tsx'
import { Tenants } from './tenants.tsx'
import './styles.css'

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
          <Link to="/tenants" className={route.startsWith('/tenants') ? 'active' : ''}>Tenants</Link>
          <Link to="/fleet" className={route === '/fleet' ? 'active' : ''}>Fleet</Link>
        </nav>
        <button type="button" className="link" onClick={() => setToken(null)}>Sign out</button>
      </header>
      <main>
        {tenant !== null ? <TenantPage key={tenant[1]} slug={decodeURIComponent(tenant[1]!)} /> : route === '/fleet' ? <Fleet /> : route === '/tenants' ? <Tenants /> : <NotFound route={route} />}
      </main>
    </div>
  )
}

function NotFound({ route }: { route: string }) {
  return <p className="error" role="alert">No page at /admin{route}: see <Link to="/tenants">Tenants</Link> or <Link to="/fleet">Fleet</Link>.</p>
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
