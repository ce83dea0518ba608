import { useCallback, useEffect, useState } from 'react'
import { api, ApiError } from './api.ts'

/**
 * Loads `path` (again when it changes, and every `refreshMs`); the API's error message when it fails.
 *
 * @example
 * const { data, error, reload } = useApi<{ items: ApiKey[] }>('/tenants/acme/api-keys')
 */
export function useApi<T>(path: string | null, refreshMs?: number): { data: T | undefined; error: string | null; reload: () => void } {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<string | null>(null)
  const [tick, setTick] = useState(0)
  const reload = useCallback(() => setTick((t) => t + 1), [])
  useEffect(() => {
    if (path === null) return
    let live = true
    api<T>(path).then(
      (value) => {
        if (!live) return
        setData(value)
        setError(null)
      },
      (e: unknown) => live && setError(e instanceof ApiError ? e.message : String(e)),
    )
    return () => {
      live = false
    }
  }, [path, tick])
  useEffect(() => {
    if (refreshMs === undefined) return
    const timer = setInterval(reload, refreshMs)
    return () => clearInterval(timer)
  }, [refreshMs, reload])
  return { data, error, reload }
}
