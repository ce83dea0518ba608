/** TenantryModule: the Tenantry object as Nest providers, the tenant of every request, errors in the catalogue's shape. */
import {
  Inject, Module, RequestMethod, type DynamicModule, type MiddlewareConsumer, type ModuleMetadata, type NestModule,
  type OnApplicationShutdown, type Provider, type FactoryProvider,
} from '@nestjs/common'
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core'
import { TenantryError } from '@tenantry/core'
import { TenantryExceptionFilter } from './exception-filter.ts'
import { missingHandle } from './missing-handle.ts'
import { settingsOf, type TenantryModuleOptions, type TenantrySettings } from './options.ts'
import { expressTenantMiddleware, mountBeforeBodyParsers, type ExpressAppLike } from './platform/express.ts'
import { addFastifyTenantHooks, type FastifyInstanceLike } from './platform/fastify.ts'
import { TENANTRY, TENANTRY_DB, TENANTRY_POOL, TENANTRY_SETTINGS } from './tokens.ts'

/** What the module adds besides its settings, fixed when the module is declared. */
interface TenantryModuleDeclaration {
  /** Register `TenantryExceptionFilter` globally (APP_FILTER). Default true. */
  readonly exceptionFilter?: boolean
}

/**
 * `TenantryModule.forRoot()`'s options: the Tenantry, and what the module does.
 *
 * @example
 * const options: TenantryModuleRootOptions = { tenantry, exclude: ['/healthz'], exceptionFilter: true }
 */
export type TenantryModuleRootOptions = TenantryModuleOptions & TenantryModuleDeclaration

/**
 * `TenantryModule.forRootAsync()`'s options: a factory (with `inject` and
 * `imports`, as in any Nest module) that returns `forRoot()`'s options.
 *
 * @example
 * TenantryModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: async (config: ConfigService) => ({
 *     tenantry: await createTenantry({ database: config.get('DATABASE_URL'), models: { shared: { tables: ['projects'] } } }),
 *     exclude: ['/healthz'],
 *     closeOnShutdown: true,
 *   }),
 * })
 */
export interface TenantryModuleAsyncOptions extends TenantryModuleDeclaration {
  readonly imports?: ModuleMetadata['imports']
  readonly inject?: FactoryProvider['inject']
  readonly useFactory: (...args: any[]) => TenantryModuleOptions | Promise<TenantryModuleOptions>
}

function providersOf(settings: Provider, declaration: TenantryModuleDeclaration): Provider[] {
  const fromSettings = <T>(provide: string, pick: (s: TenantrySettings) => T): Provider => ({ provide, useFactory: pick, inject: [TENANTRY_SETTINGS] })
  const providers: Provider[] = [
    settings,
    fromSettings(TENANTRY, (s) => s.tenantry),
    fromSettings(TENANTRY_DB, (s) => s.tenantry.db ?? missingHandle('db', TENANTRY_DB)),
    fromSettings(TENANTRY_POOL, (s) => s.tenantry.pool ?? missingHandle('pool', TENANTRY_POOL)),
  ]
  if (declaration.exceptionFilter !== false) {
    providers.push({
      provide: APP_FILTER,
      useFactory: (s: TenantrySettings, adapterHost: HttpAdapterHost) => new TenantryExceptionFilter(adapterHost, { log: s.log }),
      inject: [TENANTRY_SETTINGS, HttpAdapterHost],
    })
  }
  return providers
}

function declarationProblem(where: string, path: string, message: string): TenantryError {
  return new TenantryError('VALIDATION_FAILED', `${where}: options.${path} ${message}`, { details: [{ path, message }] })
}

/**
 * The Nest module of Tenantry (global: import it once, in the root module).
 * It provides the Tenantry object (`TENANTRY`), the scoped Kysely instance
 * (`TENANTRY_DB`) and the tenant-scoped pool (`TENANTRY_POOL`); resolves,
 * authenticates and admits every request on `@nestjs/platform-express` (a
 * middleware) and `@nestjs/platform-fastify` (Fastify hooks) and runs the
 * route, guards, interceptors and pipes included, in the tenant's scope; and
 * answers every error in the catalogue's shape (`TenantryExceptionFilter`).
 * Options are checked at start (VALIDATION_FAILED).
 *
 * @example
 * const tenantry = await createTenantry({ database: process.env.DATABASE_URL!, models: { shared: { tables: ['projects'] } } })
 * Module({
 *   imports: [TenantryModule.forRoot({ tenantry, exclude: ['/healthz'] })],
 *   controllers: [ProjectsController],
 * })(AppModule)
 */
export class TenantryModule implements NestModule, OnApplicationShutdown {
  readonly #settings: TenantrySettings
  readonly #adapterHost: HttpAdapterHost

  constructor(settings: TenantrySettings, adapterHost: HttpAdapterHost) {
    this.#settings = settings
    this.#adapterHost = adapterHost
  }

  /**
   * The module for a Tenantry you already have: `{ tenantry }` (what
   * `createTenantry()` returned) or `{ http, db?, pool? }`, with `exclude`,
   * `log`, `closeOnShutdown` and `exceptionFilter`.
   *
   * @example
   * TenantryModule.forRoot({ tenantry, exclude: ['/healthz'] })
   */
  static forRoot(options: TenantryModuleRootOptions): DynamicModule {
    const settings = settingsOf(options, 'TenantryModule.forRoot')
    const exceptionFilter = (options as TenantryModuleDeclaration).exceptionFilter
    if (exceptionFilter !== undefined && typeof exceptionFilter !== 'boolean') throw declarationProblem('TenantryModule.forRoot', 'exceptionFilter', 'must be a boolean')
    return {
      module: TenantryModule,
      global: true,
      providers: providersOf({ provide: TENANTRY_SETTINGS, useValue: settings }, { exceptionFilter }),
      exports: [TENANTRY, TENANTRY_DB, TENANTRY_POOL],
    }
  }

  /**
   * The module for a Tenantry made by a factory (which may inject, e.g., a
   * ConfigService): the factory returns `forRoot()`'s options. Checked when
   * the factory resolves, before the app serves.
   *
   * @example
   * TenantryModule.forRootAsync({
   *   useFactory: async () => ({ tenantry: await createTenantry(config), exclude: ['/healthz'], closeOnShutdown: true }),
   * })
   */
  static forRootAsync(options: TenantryModuleAsyncOptions): DynamicModule {
    const where = 'TenantryModule.forRootAsync'
    if (typeof options !== 'object' || options === null || typeof options.useFactory !== 'function') {
      throw declarationProblem(where, 'useFactory', 'must be a function returning { tenantry, exclude? } (or a promise of it)')
    }
    if (options.exceptionFilter !== undefined && typeof options.exceptionFilter !== 'boolean') throw declarationProblem(where, 'exceptionFilter', 'must be a boolean')
    const factory = options.useFactory
    const settings: Provider = {
      provide: TENANTRY_SETTINGS,
      useFactory: async (...args: unknown[]) => settingsOf(await factory(...args), where),
      inject: options.inject ?? [],
    }
    return {
      module: TenantryModule,
      global: true,
      imports: options.imports ?? [],
      providers: providersOf(settings, { exceptionFilter: options.exceptionFilter }),
      exports: [TENANTRY, TENANTRY_DB, TENANTRY_POOL],
    }
  }

  /** Called by Nest: binds tenant resolution to the platform the app runs on. */
  configure(consumer: MiddlewareConsumer): void {
    const adapter = this.#adapterHost.httpAdapter
    // An application context (no HTTP) or a platform not yet created: nothing to bind.
    if (adapter === undefined || adapter === null) return
    const platform = adapter.getType()
    if (platform === 'express') {
      // Before the body parsers, which Nest mounts before any module's middleware: a refused
      // request's body is never read, and every module's middleware sees the tenant.
      const middleware = expressTenantMiddleware(this.#settings.gate)
      if (!mountBeforeBodyParsers(adapter.getInstance<ExpressAppLike>(), middleware)) {
        // A global module's middleware is mounted before every other module's: theirs see the tenant.
        consumer.apply(middleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL })
      }
    } else if (platform === 'fastify') {
      addFastifyTenantHooks(adapter.getInstance<FastifyInstanceLike>(), this.#settings.gate)
    } else {
      throw new TenantryError('VALIDATION_FAILED', `TenantryModule supports @nestjs/platform-express and @nestjs/platform-fastify; this app runs on "${platform}"`, {
        details: [{ path: 'platform', message: `"${platform}" is not supported` }],
      })
    }
  }

  /** Called by Nest on shutdown: closes the Tenantry when `closeOnShutdown` is set. */
  async onApplicationShutdown(): Promise<void> {
    if (this.#settings.closeOnShutdown) await this.#settings.tenantry.close?.()
  }
}

Module({})(TenantryModule)
Inject(TENANTRY_SETTINGS)(TenantryModule, undefined, 0)
Inject(HttpAdapterHost)(TenantryModule, undefined, 1)
