import { useState, type FormEvent } from 'react'
import { api, ApiError, setToken } from './api.ts'

/**
 * The admin token, typed once and kept in this tab's session storage (never in the URL).
 *
 * @example
 * if (token() === null) return <Login />
 */
export function Login() {
  const [value, setValue] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setError(null)
    try {
      // Checked against the API before it is kept: a wrong one shows the API's 401 message.
      await api('/tenants?limit=1', { token: value.trim() })
      setToken(value.trim())
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e))
    }
  }
  return (
    <form className="login" onSubmit={submit}>
      <h1>Tenantry admin console</h1>
      <label>
        Admin token
        <input name="token" type="password" autoComplete="off" value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
      </label>
      <button type="submit" disabled={value.trim() === ''}>Sign in</button>
      {error !== null && <p className="error" role="alert">{error}</p>}
    </form>
  )
}
