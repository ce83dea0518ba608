import { useState, type FormEvent } from 'react'
import { api, ApiError, type Tenant } from './api.ts'
import { Link } from './router.tsx'
import { useApi } from './use-api.ts'

const COLUMNS = [
  ['slug', 'Slug'], ['name', 'Name'], ['status', 'Status'], ['plan', 'Plan'], ['isolation', 'Model'],
  ['placement', 'Placement'], ['rps', 'Req/s'], ['error_rate', 'Errors'], ['created_at', 'Created'],
] as const
const PAGE = 25

/**
 * Every tenant, searched, filtered, sorted and paged by the server (10,000 of them never reach the browser).
 *
 * @example
 * {route === '/tenants' && <Tenants />}
 */
export function Tenants() {
  const [q, setQ] = useState('')
  const [status, setStatus] = useState('')
  const [sort, setSort] = useState<string>('slug')
  const [order, setOrder] = useState<'asc' | 'desc'>('asc')
  const [offset, setOffset] = useState(0)
  const query = new URLSearchParams({ sort, order, limit: String(PAGE), offset: String(offset), ...(q.trim() === '' ? {} : { q: q.trim() }), ...(status === '' ? {} : { status }) })
  const { data, error, reload } = useApi<{ items: Tenant[]; total: number }>(`/tenants?${query}`, 5_000)
  const sortBy = (column: string) => {
    if (column === sort) setOrder(order === 'asc' ? 'desc' : 'asc')
    else {
      setSort(column)
      setOrder(column === 'rps' || column === 'error_rate' ? 'desc' : 'asc')
    }
    setOffset(0)
  }
  const total = data?.total ?? 0
  return (
    <section>
      <h1>Tenants</h1>
      <div className="toolbar">
        <input placeholder="Search slug, name or domain" aria-label="Search" value={q} onChange={(e) => { setQ(e.target.value); setOffset(0) }} />
        <select aria-label="Status" value={status} onChange={(e) => { setStatus(e.target.value); setOffset(0) }}>
          <option value="">Any status</option>
          {['active', 'suspended', 'provisioning', 'offboarding'].map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <span className="muted" data-testid="total">{total} tenants</span>
      </div>
      {error !== null && <p className="error" role="alert">{error}</p>}
      <table data-testid="tenant-table">
        <thead>
          <tr>
            {COLUMNS.map(([key, label]) => (
              <th key={key}>
                <button type="button" className="link" onClick={() => sortBy(key)} data-testid={`sort-${key}`}>
                  {label}{sort === key ? (order === 'asc' ? ' ▲' : ' ▼') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {(data?.items ?? []).map((t) => (
            <tr key={t.id} data-slug={t.slug}>
              <td><Link to={`/tenants/${encodeURIComponent(t.slug)}`}>{t.slug}</Link></td>
              <td>{t.name}</td>
              <td><span className={`status ${t.status}`}>{t.status}</span></td>
              <td>{t.plan}</td>
              <td>{t.isolation}</td>
              <td className="muted">{placementOf(t)}</td>
              <td className="num">{t.live?.rps.toFixed(2) ?? '0.00'}</td>
              <td className="num">{((t.live?.error_rate ?? 0) * 100).toFixed(1)} %</td>
              <td>{t.created_at.slice(0, 10)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>Previous</button>
        <span data-testid="page">{total === 0 ? 0 : offset + 1}–{Math.min(total, offset + PAGE)} of {total}</span>
        <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>Next</button>
      </div>
      <NewTenant onCreated={reload} />
    </section>
  )
}

function placementOf(t: Tenant): string {
  const p = t.placement ?? {}
  return [p.server, p.schema, p.database].filter((v) => typeof v === 'string').join(' / ') || '—'
}

/** Creates a tenant through POST /admin/api/tenants. */
function NewTenant({ onCreated }: { onCreated: () => void }) {
  const [slug, setSlug] = useState('')
  const [name, setName] = useState('')
  const [isolation, setIsolation] = useState('shared')
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null)
  const submit = async (event: FormEvent) => {
    event.preventDefault()
    try {
      const created = await api<Tenant>('/tenants', { method: 'POST', body: { slug: slug.trim(), name: name.trim(), isolation } })
      setMessage({ error: false, text: `Created ${created.slug}` })
      setSlug('')
      setName('')
      onCreated()
    } catch (e) {
      setMessage({ error: true, text: e instanceof ApiError ? e.message : String(e) })
    }
  }
  return (
    <form className="card" onSubmit={submit} aria-label="New tenant">
      <h2>New tenant</h2>
      <input placeholder="slug" aria-label="New tenant slug" value={slug} onChange={(e) => setSlug(e.target.value)} />
      <input placeholder="name" aria-label="New tenant name" value={name} onChange={(e) => setName(e.target.value)} />
      <select aria-label="New tenant model" value={isolation} onChange={(e) => setIsolation(e.target.value)}>
        <option value="shared">shared</option>
        <option value="schema">schema</option>
        <option value="database">database</option>
      </select>
      <button type="submit">Create</button>
      {message !== null && <p className={message.error ? 'error' : 'ok'} role={message.error ? 'alert' : 'status'}>{message.text}</p>}
    </form>
  )
}
