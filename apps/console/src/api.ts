/**
 * The admin API as the console calls it: the token from session storage on
 * every call, JSON in and out, and the API's own error messages. A 401 drops
 * the token (the login form shows again).
 */
const TOKEN_KEY = 'tenantry.adminToken'

/** An error the admin API answered: its code and its message, shown as they are. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY)
}

export function setToken(value: string | null): void {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, value)
  window.dispatchEvent(new Event('tenantry-token'))
}

/** Calls `/admin/api${path}`; rejects with ApiError carrying the API's message. */
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
  const body = text === '' ? undefined : JSON.parse(text)
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
