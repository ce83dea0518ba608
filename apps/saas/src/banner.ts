import { relative } from 'node:path'
import type { TenantRecord } from '@tenantry/postgres'
import { adminTokenFile, type AdminToken, type SaasConfig } from './config/index.ts'

export interface BannerInput {
  readonly config: SaasConfig
  readonly port: number
  readonly token: AdminToken
  readonly tenants: readonly TenantRecord[]
  readonly seeded: readonly string[]
  readonly backend: string
  readonly readySeconds: number
  readonly cwd: string
}

/** A path as the user should type it: relative to where they started, unless that climbs out. */
function shown(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel === '' || rel.startsWith('..') ? path : rel
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text + ' '.repeat(width - text.length)
}

/** `value` inside a double-quoted shell word (a custom token may hold a dollar sign, backquote or backslash). */
function inDoubleQuotes(value: string): string {
  return value.replace(/[$`"\\]/g, (c) => `\\${c}`)
}

/** A path as a shell word (single-quoted unless it is plain). */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}

/**
 * What `npm start` prints once the server listens: where it is, the tenants and
 * their URLs, the admin token when it was just generated (never again), and the
 * curl lines that get an API key and use it.
 *
 * @example
 * console.log(startBanner({ config, port: 3000, token, tenants, seeded, backend: 'embedded PGlite in ./.tenantry', readySeconds: 1.4, cwd }))
 */
export function startBanner(input: BannerInput): string {
  const { config, port, token, tenants } = input
  const base = config.baseDomain
  const origin = (host: string): string => `http://${host}${port === 80 ? '' : `:${port}`}`
  const bare = origin(base)
  const lines: string[] = [
    '',
    `Tenantry reference SaaS ready in ${input.readySeconds.toFixed(1)} s on ${config.host}:${port} (${input.backend})`,
    '',
  ]
  if (input.seeded.length > 0) lines.push(`First start: created the demo tenants ${input.seeded.join(', ')}.`, '')
  if (tenants.length > 0) {
    lines.push('Tenants (tenant API, Authorization: Bearer <API key of that tenant>):')
    for (const t of tenants.slice(0, 10)) lines.push(`  ${pad(t.slug, 10)}${pad(t.isolation, 9)}${pad(t.status, 10)}${origin(`${t.slug}.${base}`)}/api/projects`)
    if (tenants.length > 10) lines.push(`  … and ${tenants.length - 10} more (GET ${bare}/admin/api/tenants)`)
    lines.push('')
  }
  lines.push(`Admin console: ${bare}/admin   Metrics: ${bare}/metrics (admin token)`)
  lines.push(`Admin API: ${bare}/admin/api/tenants   Health: ${bare}/healthz`)
  let tokenWord: string
  if (token.source === 'generated') {
    lines.push(`Admin token (generated now, shown only this once; kept in ${shown(adminTokenFile(config), input.cwd)}):`, `  ${token.token}`)
    tokenWord = inDoubleQuotes(token.token)
  } else if (token.source === 'file') {
    const file = shown(adminTokenFile(config), input.cwd)
    lines.push(`Admin token: the one generated on the first start, in ${file} (or set TENANTRY_ADMIN_TOKEN)`)
    tokenWord = `$(cat ${shellWord(file)})`
  } else {
    lines.push('Admin token: from TENANTRY_ADMIN_TOKEN')
    tokenWord = '$TENANTRY_ADMIN_TOKEN'
  }
  const slug = tenants[0]?.slug ?? 'acme'
  lines.push(
    '',
    `Get an API key for ${slug} (shown once), then call its API:`,
    `  curl -s -X POST -H "Authorization: Bearer ${tokenWord}" ${bare}/admin/api/tenants/${slug}/api-keys`,
    `  curl -s -H "Authorization: Bearer <key>" ${origin(`${slug}.${base}`)}/api/projects`,
    `  curl -s -H "Authorization: Bearer <key>" -H "X-Tenant-ID: ${slug}" ${bare}/api/me     # without the subdomain`,
    '',
    'Docs: docs/reference-saas.md. Stop with Ctrl-C.',
    '',
  )
  return lines.join('\n')
}
