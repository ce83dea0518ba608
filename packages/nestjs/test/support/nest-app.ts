/** The contract app on NestJS, on either platform. */
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Body, Controller, Get, HttpCode, Module, Post, Req, type INestApplication, type ModuleMetadata } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { currentTenant, tryCurrentTenant, type TenantHttpOptions } from '@tenantry/core'
import type { RunningApp, StartApp } from '@tenantry/test-kit'
import { TenantryModule } from '../../src/index.ts'
import { method, parameter } from './decorate.ts'

export type Platform = 'express' | 'fastify'

export const platforms: readonly Platform[] = ['express', 'fastify']

/** Express's `req` and Fastify's `request` both carry the tenant the module resolved. */
interface TenantRequestFields {
  readonly tenant?: { readonly slug: string }
  readonly tenantAuth?: unknown
}

class ContractController {
  async whoami(request: TenantRequestFields) {
    await sleep(Math.random() * 5)
    await new Promise((resolve) => setImmediate(resolve))
    return { slug: currentTenant().slug, requestTenant: request.tenant?.slug, auth: request.tenantAuth }
  }

  async echo(body: unknown) {
    await sleep(1)
    return { slug: currentTenant().slug, body }
  }

  async boom(): Promise<never> {
    await sleep(1)
    throw new Error('relation "secret_table" does not exist: select * from secret_table')
  }

  async slow() {
    await sleep(300)
    return { slug: currentTenant().slug }
  }

  health() {
    return { tenant: tryCurrentTenant()?.slug ?? null }
  }
}
Controller()(ContractController)
method(ContractController, 'whoami', Get(['api/whoami', 't/:tenant/api/whoami']))
parameter(ContractController, 'whoami', 0, Req())
method(ContractController, 'echo', Post('api/echo'), HttpCode(200))
parameter(ContractController, 'echo', 0, Body())
method(ContractController, 'boom', Get('api/boom'))
method(ContractController, 'slow', Get('api/slow'))
method(ContractController, 'health', Get(['healthz', 'admin/ping']))

/** A Nest app on `platform` from a root module's metadata, listening on 127.0.0.1. */
export async function listen(platform: Platform, metadata: ModuleMetadata): Promise<RunningApp & { readonly app: INestApplication }> {
  class AppModule {}
  Module(metadata)(AppModule)
  const app = await NestFactory.create(AppModule, platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(), { logger: false })
  await app.listen(0, '127.0.0.1')
  const { port } = app.getHttpServer().address() as AddressInfo
  return { app, port, close: () => app.close() }
}

/** The contract's `start(options)` on `platform`: TenantryModule with a hand-made `{ http }`. */
export function startNest(platform: Platform): StartApp {
  return (options: TenantHttpOptions) =>
    listen(platform, {
      imports: [TenantryModule.forRoot({ http: options, log: () => {} })],
      controllers: [ContractController],
    })
}
