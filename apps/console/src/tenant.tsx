import { useState, type FormEvent } from 'react'
import { api, ApiError, type LivePoint, type Tenant, type TenantJobs } from './api.ts'
import { Chart } from './chart.tsx'
import { Link, navigate } from './router.tsx'
import { useApi } from './use-api.ts'

interface ApiKey { id: string; name: string | null; prefix: string; created_at: string; last_used_at: string | null; revoked_at: string | null }
interface Audit { id: string; at: string; actor: string | null; action: string; reason: string | null }
interface Migration { id: string; state: string; error: string | null }

/**
 * One tenant: details, settings, domains, keys, lifecycle actions, its live charts, migrations and audit trail.
 *
 * @example
 * <TenantPage key={slug} slug={slug} />
 */
export function TenantPage({ slug }: { slug: string }) {
  const base = `/tenants/${encodeURIComponent(slug)}`
  const tenant = useApi<Tenant>(base)
  const keys = useApi<{ items: ApiKey[] }>(`${base}/api-keys`)
  const live = useApi<{ series: LivePoint[] }>(`${base}/live`, 2_000)
  const audit = useApi<{ items: Audit[] }>(`${base}/audit?limit=50`)
  const migrations = useApi<{ target: string; migrations: Migration[] }>(`${base}/migrations`)
  const jobs = useApi<TenantJobs>(`${base}/jobs`, 5_000)
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null)
  const [confirming, setConfirming] = useState<'suspend' | 'resume' | 'delete' | null>(null)
  const [shownKey, setShownKey] = useState<string | null>(null)

  /** Runs one admin API call; shows its outcome (the API's own message when it fails) and whether it worked. */
  const act = async (work: () => Promise<unknown>, done: string): Promise<boolean> => {
    try {
      await work()
      setMessage({ error: false, text: done })
      tenant.reload()
      keys.reload()
      audit.reload()
      return true
    } catch (e) {
      setMessage({ error: true, text: e instanceof ApiError ? e.message : String(e) })
      return false
    }
  }
  const t = tenant.data
  if (tenant.error !== null) return <p className="error" role="alert">{tenant.error}</p>
  if (t === undefined) return <p className="muted">Loading…</p>
  const series = live.data?.series ?? []
  return (
    <section>
      <p><Link to="/tenants">← Tenants</Link></p>
      <h1>{t.name} <span className={`status ${t.status}`} data-testid="tenant-status">{t.status}</span></h1>
      {message !== null && <p className={message.error ? 'error' : 'ok'} role={message.error ? 'alert' : 'status'}>{message.text}</p>}
      <div className="grid">
        <div className="card">
          <h2>Details</h2>
          <dl>
            <dt>Slug</dt><dd>{t.slug}</dd>
            <dt>Id</dt><dd><code>{t.id}</code></dd>
            <dt>Plan</dt><dd>{t.plan}</dd>
            <dt>Model</dt><dd>{t.isolation}</dd>
            <dt>Created</dt><dd>{t.created_at}</dd>
          </dl>
          <div className="actions">
            {t.status === 'active' && <button type="button" onClick={() => setConfirming('suspend')}>Suspend</button>}
            {t.status === 'suspended' && <button type="button" onClick={() => setConfirming('resume')}>Resume</button>}
            <button type="button" className="danger" onClick={() => setConfirming('delete')}>Delete</button>
          </div>
        </div>
        <Settings key={t.id + t.plan + t.name + JSON.stringify(t.settings)} tenant={t} act={act} base={base} />
        <Domains tenant={t} act={act} base={base} />
      </div>

      <div className="grid">
        <Chart testId="chart-throughput" title="Requests per bucket" unit="req" series={[{ name: 'requests', color: '#2b6cb0', values: series.map((p) => p.requests) }]} />
        <Chart testId="chart-latency" title="Latency" unit="ms" series={[
          { name: 'p50', color: '#38a169', values: series.map((p) => (p.requests > 0 ? p.p50Ms : null)) },
          { name: 'p95', color: '#d69e2e', values: series.map((p) => (p.requests > 0 ? p.p95Ms : null)) },
          { name: 'p99', color: '#e53e3e', values: series.map((p) => (p.requests > 0 ? p.p99Ms : null)) },
        ]} />
        <Chart testId="chart-errors" title="Errors and limit hits" unit="req" series={[
          { name: 'errors', color: '#e53e3e', values: series.map((p) => p.errors) },
          { name: 'limit hits', color: '#805ad5', values: series.map((p) => p.limitHits) },
          { name: 'bulkhead', color: '#dd6b20', values: series.map((p) => p.rejections) },
        ]} />
      </div>

      <div className="card">
        <h2>API keys</h2>
        <button type="button" onClick={() => act(async () => {
          const created = await api<{ id: string; key: string }>(`${base}/api-keys`, { method: 'POST', body: { name: `console ${new Date().toISOString().slice(0, 19)}` } })
          setShownKey(created.key)
        }, 'Key created')}>Create key</button>
        {keys.error !== null && <p className="error">{keys.error}</p>}
        <table data-testid="keys">
          <thead><tr><th>Prefix</th><th>Name</th><th>Created</th><th>Last used</th><th>Revoked</th><th /></tr></thead>
          <tbody>
            {(keys.data?.items ?? []).map((k) => (
              <tr key={k.id} data-key-id={k.id}>
                <td><code>{k.prefix}</code></td><td>{k.name ?? ''}</td><td>{k.created_at.slice(0, 19)}</td>
                <td>{k.last_used_at?.slice(0, 19) ?? '—'}</td><td>{k.revoked_at?.slice(0, 19) ?? '—'}</td>
                <td>{k.revoked_at === null && <button type="button" className="danger" onClick={() => act(() => api(`${base}/api-keys/${k.id}`, { method: 'DELETE' }), 'Key revoked')}>Revoke</button>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <div className="grid">
        <div className="card">
          <h2>Migrations <span className="muted">({migrations.data?.target ?? ''})</span></h2>
          {migrations.error !== null && <p className="error">{migrations.error}</p>}
          <ul data-testid="migrations">
            {(migrations.data?.migrations ?? []).map((m) => <li key={m.id}><code>{m.id}</code> <span className={`state ${m.state}`}>{m.state}</span>{m.error !== null && <span className="error"> {m.error}</span>}</li>)}
          </ul>
        </div>
        <div className="card">
          <h2>Background jobs</h2>
          {jobs.error !== null && <p className="error">{jobs.error}</p>}
          {jobs.data?.available === false && <p className="muted" data-testid="jobs-off">This app runs no job queue (start it with REDIS_URL).</p>}
          {jobs.data?.available === true && (
            <table data-testid="jobs">
              <thead><tr><th>Queue</th><th>Queued</th><th>Running</th><th>Failed</th></tr></thead>
              <tbody>
                {jobs.data.queues.map((q) => <tr key={q.queue} data-queue={q.queue}><td><code>{q.queue}</code></td><td>{q.queued}</td><td>{q.running}</td><td className={q.failed > 0 ? 'error' : ''}>{q.failed}</td></tr>)}
              </tbody>
            </table>
          )}
        </div>
        <div className="card">
          <h2>Audit trail</h2>
          {audit.error !== null && <p className="error">{audit.error}</p>}
          <table data-testid="audit">
            <tbody>
              {(audit.data?.items ?? []).map((a) => <tr key={a.id}><td>{a.at.slice(0, 19)}</td><td><code>{a.action}</code></td><td>{a.actor ?? ''}</td><td className="muted">{a.reason ?? ''}</td></tr>)}
            </tbody>
          </table>
        </div>
      </div>

      {shownKey !== null && (
        <dialog open className="modal" aria-label="New API key">
          <h2>New API key</h2>
          <p>Copy it now: it is shown once and cannot be read again.</p>
          <code data-testid="new-key">{shownKey}</code>
          <button type="button" onClick={() => setShownKey(null)}>Done</button>
        </dialog>
      )}
      {confirming !== null && (
        <dialog open className="modal" aria-label="Confirm">
          <h2>{confirming === 'delete' ? `Delete ${t.slug}?` : `${confirming === 'suspend' ? 'Suspend' : 'Resume'} ${t.slug}?`}</h2>
          <p>{confirming === 'delete' ? 'Its data is purged and its slug becomes free again. This cannot be undone.' : confirming === 'suspend' ? 'Its API answers 403 until it is resumed.' : 'Its API answers again.'}</p>
          <div className="actions">
            <button type="button" onClick={() => setConfirming(null)}>Cancel</button>
            <button type="button" className={confirming === 'delete' ? 'danger' : ''} data-testid="confirm" onClick={() => {
              const what = confirming
              setConfirming(null)
              if (what === 'delete') void act(() => api(base, { method: 'DELETE' }), 'Deleted').then((ok) => ok && navigate('/tenants'))
              else void act(() => api(`${base}/${what}`, { method: 'POST' }), what === 'suspend' ? 'Suspended' : 'Resumed')
            }}>{confirming === 'delete' ? 'Delete' : confirming === 'suspend' ? 'Suspend' : 'Resume'}</button>
          </div>
        </dialog>
      )}
    </section>
  )
}

function Domains({ tenant, act, base }: { tenant: Tenant; act: (work: () => Promise<unknown>, done: string) => Promise<boolean>; base: string }) {
  const [domain, setDomain] = useState('')
  const add = (event: FormEvent) => {
    event.preventDefault()
    void act(() => api(`${base}/domains`, { method: 'POST', body: { domain: domain.trim() } }), 'Domain added').then((ok) => ok && setDomain(''))
  }
  return (
    <div className="card">
      <h2>Domains</h2>
      <ul>
        {tenant.domains.map((d) => <li key={d}>{d} <button type="button" className="link" onClick={() => act(() => api(`${base}/domains/${encodeURIComponent(d)}`, { method: 'DELETE' }), 'Domain removed')}>remove</button></li>)}
      </ul>
      <form onSubmit={add}>
        <input placeholder="app.example.com" aria-label="Domain" value={domain} onChange={(e) => setDomain(e.target.value)} />
        <button type="submit" disabled={domain.trim() === ''}>Add</button>
      </form>
    </div>
  )
}

/** Name, plan and settings, changed through PATCH /admin/api/tenants/:slug (settings are replaced whole). */
function Settings({ tenant, act, base }: { tenant: Tenant; act: (work: () => Promise<unknown>, done: string) => Promise<boolean>; base: string }) {
  const [name, setName] = useState(tenant.name)
  const [plan, setPlan] = useState(tenant.plan)
  const [settings, setSettings] = useState(JSON.stringify(tenant.settings, null, 2))
  const [problem, setProblem] = useState<string | null>(null)
  const save = (event: FormEvent) => {
    event.preventDefault()
    let parsed: unknown
    try {
      parsed = JSON.parse(settings)
    } catch (e) {
      setProblem(`Settings are not valid JSON: ${(e as Error).message}`)
      return
    }
    setProblem(null)
    const patch: Record<string, unknown> = {}
    if (name.trim() !== tenant.name) patch.name = name.trim()
    if (plan.trim() !== tenant.plan) patch.plan = plan.trim()
    if (JSON.stringify(parsed) !== JSON.stringify(tenant.settings)) patch.settings = parsed
    if (Object.keys(patch).length === 0) {
      setProblem('Nothing changed')
      return
    }
    void act(() => api(base, { method: 'PATCH', body: patch }), 'Saved')
  }
  return (
    <form className="card settings" onSubmit={save} aria-label="Settings">
      <h2>Settings</h2>
      <label>Name <input aria-label="Name" value={name} onChange={(e) => setName(e.target.value)} /></label>
      <label>Plan <input aria-label="Plan" value={plan} onChange={(e) => setPlan(e.target.value)} /></label>
      <label>Settings (JSON)
        <textarea aria-label="Settings JSON" data-testid="settings" rows={6} spellCheck={false} value={settings} onChange={(e) => setSettings(e.target.value)} />
      </label>
      <button type="submit">Save</button>
      {problem !== null && <p className="error" role="alert">{problem}</p>}
    </form>
  )
}
