import { Command } from 'commander'
import type { ApiKeyInfo } from '@tenantry/postgres'
import { withTenantry } from '../config.ts'
import type { CliIo } from '../io.ts'
import { formatTable } from '../table.ts'
import { actorOf, configOf, opsOptions, print, when, type OpsFlags } from './common.ts'

function keyJson(key: ApiKeyInfo): Record<string, unknown> {
  return {
    id: key.id, name: key.name ?? null, prefix: key.prefix, created_at: key.createdAt.toISOString(),
    last_used_at: key.lastUsedAt?.toISOString() ?? null, revoked_at: key.revokedAt?.toISOString() ?? null,
  }
}

/** `tenantry keys create|list|revoke`: a tenant's API keys. */
export function keysCommand(io: CliIo): Command {
  const keys = new Command('keys').description("a tenant's API keys: create (the key is shown once), list (never the secret), revoke")
    .option('-c, --config <file>', 'config module (default: ./tenantry.config.ts|.mjs|.js)')

  opsOptions(keys.command('create').argument('<tenant>', 'slug or id').description('a new API key; it is printed once and never again'), true)
    .option('--name <name>', 'what the key is for')
    .action(async function (this: Command, ref: string, flags: OpsFlags & { name?: string }) {
      await withTenantry(configOf(flags, this), 'connect', async ({ tenants }) => {
        const created = await tenants.createApiKey(ref, { actor: actorOf(flags), ...(flags.name === undefined ? {} : { name: flags.name }) })
        print(io, flags, { id: created.id, key: created.key }, () => `${created.key}\n`)
        if (!flags.json) io.err.write(`key ${created.id} created for ${ref}: store it now, it is not shown again\n`)
      })
    })

  opsOptions(keys.command('list').argument('<tenant>', 'slug or id').description("the tenant's keys, revoked ones included (never the secrets)"), false)
    .action(async function (this: Command, ref: string, flags: OpsFlags) {
      await withTenantry(configOf(flags, this), 'connect', async ({ tenants }) => {
        const list = await tenants.listApiKeys(ref)
        print(io, flags, { items: list.map(keyJson) }, () => list.length === 0
          ? 'no keys\n'
          : formatTable(['id', 'name', 'prefix', 'created', 'last used', 'revoked'],
            list.map((k) => [k.id, k.name ?? '-', k.prefix, when(k.createdAt), when(k.lastUsedAt), when(k.revokedAt)])))
      })
    })

  opsOptions(keys.command('revoke').argument('<tenant>', 'slug or id').argument('<key-id>', 'the id `keys list` shows').description('revoke a key: it stops working on every instance'), true)
    .option('--reason <text>', 'recorded in the audit trail')
    .action(async function (this: Command, ref: string, keyId: string, flags: OpsFlags & { reason?: string }) {
      await withTenantry(configOf(flags, this), 'connect', async ({ tenants }) => {
        const revoked = await tenants.revokeApiKey(ref, keyId, { actor: actorOf(flags), ...(flags.reason === undefined ? {} : { reason: flags.reason }) })
        print(io, flags, keyJson(revoked), () => `revoked ${revoked.id} (${revoked.prefix})\n`)
      })
    })
  return keys
}
