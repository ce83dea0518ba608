/**
 * The admin API as the console calls it: the token from session storage on
 * every call, JSON in and out, and the API's own error messages. A 401 drops
 * the token (the login form shows again).
 */
const TOKEN_KEY = 'tenantry.adminToken'

/**
 * An error the admin API answered: its code and its message, shown as they are.
 *
 * @example
 * catch (e) { setMessage(e instanceof ApiError ? e.message : String(e)) }
 */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/**
 * The admin token of this tab (session storage), or null before sign-in.
 *
 * @example
 * if (token() === null) return <Login />
 */
export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY)
}

/**
 * Keeps the admin token in this tab's session storage (null drops it) and tells the app.
 *
 * @example
 * setToken(null) // signs out
 */
export function setToken(value: string | null): void {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, value)
  window.dispatchEvent(new Event('tenantry-token'))
}

/**
 * Calls `/admin/api${path}`; rejects with ApiError carrying the API's message.
 *
 * @example
 * const page = await api<{ items: Tenant[]; total: number }>('/tenants?limit=25')
 * await api('/tenants/acme/suspend', { method: 'POST' })
 */
export async function api<T = any>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? token() ?? ''}` }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`/admin/api${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  })
  if (response.status === 204) return undefined as T
  const text = await response.text()
  let body: any
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    // Not the API's JSON (a proxy's error page, say): say what came back instead of a parse error.
    throw new ApiError(response.status, 'NOT_JSON', `The admin API answered ${response.status} ${response.statusText} with something that is not JSON`)
  }
  if (!response.ok) {
    const error = body?.error ?? {}
    if (response.status === 401 && init.token === undefined) setToken(null)
    throw new ApiError(response.status, String(error.code ?? 'ERROR'), String(error.message ?? `HTTP ${response.status}`))
  }
  return body as T
}

export interface Tenant {
  id: string
  slug: string
  name: string
  status: string
  plan: string
  isolation: string
  domains: string[]
  settings: Record<string, unknown>
  created_at: string
  placement?: Record<string, unknown>
  live?: { rps: number; error_rate: number; p99_ms: number | null }
}

/** A tenant's background jobs by queue (`GET /admin/api/tenants/:slug/jobs`). */
export interface TenantJobs {
  available: boolean
  queues: { queue: string; queued: number; running: number; failed: number }[]
}

export interface LivePoint {
  at: number
  requests: number
  errors: number
  limitHits: number
  rejections: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
}
