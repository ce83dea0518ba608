import { Command, Option } from 'commander'
import { TenantryError, type IsolationModelName, type TenantStatus } from '@tenantry/core'
import type { TenantRecord } from '@tenantry/postgres'
import { withTenantry } from '../config.ts'
import type { CliIo } from '../io.ts'
import { formatFields, formatTable } from '../table.ts'
import { actorOf, configOf, opsOptions, print, when, type OpsFlags } from './common.ts'

/** A tenant as `--json` prints it (the same fields as the reference SaaS's admin API). */
export function tenantJson(tenant: TenantRecord): Record<string, unknown> {
  return {
    id: tenant.id, slug: tenant.slug, name: tenant.name, status: tenant.status, plan: tenant.plan, isolation: tenant.isolation,
    placement: tenant.placement, domains: tenant.domains, settings: tenant.settings, created_at: tenant.createdAt.toISOString(),
  }
}

function tenantFields(tenant: TenantRecord): string {
  const placement = Object.entries(tenant.placement).map(([k, v]) => `${k}=${String(v)}`).join(' ')
  return formatFields([
    ['slug', tenant.slug], ['id', tenant.id], ['name', tenant.name], ['status', tenant.status], ['plan', tenant.plan],
    ['isolation', tenant.isolation], ['placement', placement || '-'], ['domains', tenant.domains.join(', ') || '-'],
    ['settings', JSON.stringify(tenant.settings)], ['created', when(tenant.createdAt)],
  ])
}

const STATUSES: readonly TenantStatus[] = ['provisioning', 'active', 'suspended', 'offboarding', 'deleted']

/** `tenantry tenants create|list|show|suspend|resume|delete`. */
export function tenantsCommand(io: CliIo): Command {
  const tenants = new Command('tenants').description("the tenant catalog: create, list, show, suspend, resume, delete (a tenant is named by slug or id)")
    .option('-c, --config <file>', 'config module (default: ./tenantry.config.ts|.mjs|.js)')

  opsOptions(tenants.command('list').description('the tenants, oldest first (deleted ones only with --status deleted)'), false)
    .addOption(new Option('--status <status>', 'only tenants in this status').choices(STATUSES))
    .action(async function (this: Command, flags: OpsFlags & { status?: TenantStatus }) {
      await withTenantry(configOf(flags, this), 'connect', async ({ tenants: lifecycle }) => {
        const all: TenantRecord[] = []
        let cursor: string | undefined
        do {
          const page = await lifecycle.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }), ...(flags.status === undefined ? {} : { status: flags.status }) })
          all.push(...page.items)
          cursor = page.nextCursor
        } while (cursor !== undefined)
        print(io, flags, { items: all.map(tenantJson) }, () => all.length === 0
          ? 'no tenants\n'
          : formatTable(['slug', 'name', 'status', 'plan', 'isolation', 'domains', 'created'],
            all.map((t) => [t.slug, t.name, t.status, t.plan, t.isolation, t.domains.join(',') || '-', when(t.createdAt)])))
      })
    })

  opsOptions(tenants.command('show').argument('<tenant>', 'slug or id').description('one tenant: placement, domains, settings'), false)
    .action(async function (this: Command, ref: string, flags: OpsFlags) {
      await withTenantry(configOf(flags, this), 'connect', async ({ tenants: lifecycle }) => {
        const tenant = await lifecycle.get(ref)
        print(io, flags, tenantJson(tenant), () => tenantFields(tenant))
      })
    })

  opsOptions(tenants.command('create').argument('<slug>', 'lowercase letters, digits and "-"').description('create a tenant: its schema or database is made and migrated before it is active'), true)
    .requiredOption('--name <name>', 'display name')
    .option('--plan <plan>', 'one of the plans the config defines (default: its default plan)')
    .addOption(new Option('--isolation <model>', 'shared, schema or database (default: the config\'s default)').choices(['shared', 'schema', 'database']))
    .option('--domain <domain...>', 'custom domains')
    .option('--server <name>', 'database model: the server to place it on')
    .action(async function (this: Command, slug: string, flags: OpsFlags & { name: string; plan?: string; isolation?: IsolationModelName; domain?: string[]; server?: string }) {
      await withTenantry(configOf(flags, this), 'install', async ({ tenants: lifecycle }) => {
        const tenant = await lifecycle.create({
          slug, name: flags.name,
          ...(flags.plan === undefined ? {} : { plan: flags.plan }),
          ...(flags.isolation === undefined ? {} : { isolation: flags.isolation }),
          ...(flags.domain === undefined ? {} : { domains: flags.domain }),
        }, { actor: actorOf(flags), ...(flags.server === undefined ? {} : { server: flags.server }) })
        print(io, flags, tenantJson(tenant), () => `created ${tenant.slug} (${tenant.isolation}, ${tenant.plan})\n${tenantFields(tenant)}`)
      })
    })

  for (const [name, verb, description] of [
    ['suspend', 'suspended', 'stop serving the tenant (its requests get TENANT_SUSPENDED) until resume'],
    ['resume', 'resumed', 'serve a suspended tenant again'],
  ] as const) {
    opsOptions(tenants.command(name).argument('<tenant>', 'slug or id').description(description), true)
      .option('--reason <text>', 'recorded in the audit trail')
      .action(async function (this: Command, ref: string, flags: OpsFlags & { reason?: string }) {
        await withTenantry(configOf(flags, this), 'connect', async ({ tenants: lifecycle }) => {
          const attribution = { actor: actorOf(flags), ...(flags.reason === undefined ? {} : { reason: flags.reason }) }
          const tenant = name === 'suspend' ? await lifecycle.suspend(ref, attribution) : await lifecycle.resume(ref, attribution)
          print(io, flags, tenantJson(tenant), () => `${verb} ${tenant.slug}\n`)
        })
      })
  }

  opsOptions(tenants.command('delete').argument('<tenant>', 'slug or id').description('offboard the tenant: it stops serving, its rows, schema or database are purged, its slug is free again'), true)
    .option('--yes', 'confirm: the tenant\'s data is deleted for good')
    .option('--reason <text>', 'recorded in the audit trail')
    .action(async function (this: Command, ref: string, flags: OpsFlags & { yes?: boolean; reason?: string }) {
      if (flags.yes !== true) {
        throw new TenantryError('VALIDATION_FAILED', `Deleting "${ref}" purges all of its data and cannot be undone: run again with --yes`)
      }
      await withTenantry(configOf(flags, this), 'connect', async ({ tenants: lifecycle }) => {
        const tenant = await lifecycle.offboard(ref, { actor: actorOf(flags), ...(flags.reason === undefined ? {} : { reason: flags.reason }) })
        print(io, flags, tenantJson(tenant), () => `deleted ${tenant.slug}: its data is purged and its slug is free\n`)
      })
    })
  return tenants
}
