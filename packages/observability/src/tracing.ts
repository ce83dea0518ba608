/**
 * OpenTelemetry for Tenantry: a span per tenant request and per query with the
 * tenant's id, slug and isolation model (never personal data), and the tenant
 * carried in W3C baggage to outgoing calls. With no SDK registered it does
 * nothing and allocates nothing per request.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { currentScope, type QueryObserver, type RequestObservation, type RequestObserver, type Tenant } from '@tenantry/core'

/** The span attributes Tenantry sets: ids and names the operator chose, never personal data. */
export const TENANT_ATTRIBUTES = { id: 'tenant.id', slug: 'tenant.slug', isolation: 'tenant.isolation' } as const

/** The baggage entries `withTenantBaggage` and `injectTenantBaggage` put on outgoing calls. */
export const TENANT_BAGGAGE = { id: 'tenant.id', slug: 'tenant.slug' } as const

export interface TenantTracingOptions {
  /** The tracer's name; default `@tenantry/observability`. */
  readonly name?: string
  /** The tracer's version. */
  readonly version?: string
}

type TenantFields = Pick<Tenant, 'id' | 'slug'> & { readonly isolation?: string }

/**
 * Where the OpenTelemetry API (major version 1, every copy of it loaded) keeps
 * its registrations: `trace` is set by `trace.setGlobalTracerProvider` (an SDK's
 * `register()`) and removed by `trace.disable()`.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1')

function setTenant(span: Span, tenant: TenantFields): void {
  span.setAttribute(TENANT_ATTRIBUTES.id, tenant.id)
  span.setAttribute(TENANT_ATTRIBUTES.slug, tenant.slug)
  if (tenant.isolation !== undefined) span.setAttribute(TENANT_ATTRIBUTES.isolation, tenant.isolation)
}

/**
 * Traces by tenant with `@opentelemetry/api`. Spans go to whatever SDK the app
 * registers (`NodeSDK`, a `BasicTracerProvider`); with none, `observer()`
 * skips every request (no span, no closure) and `querySpan` runs the query
 * as it is.
 *
 * @example
 * const tracing = new TenantTracing()
 * await app.register(tenantryFastify, { resolution, observer: tracing.observer() })
 * // in a handler: the tenant rides along to the next service
 * await tracing.withTenantBaggage(() => fetch('http://billing.internal/usage'))
 */
export class TenantTracing {
  readonly #name: string
  readonly #version: string | undefined
  #tracer: Tracer | undefined
  /** The SDK provider (or the API's no-op one) `enabled` last looked at, and what it found. */
  #delegate: unknown
  #delegateEnabled = false
  /** The OpenTelemetry API's global registration when `enabled` last asked the API, and its answer. */
  #seen = false
  #enabled = false
  #api: unknown
  #registered: unknown
  readonly #observer: RequestObserver
  readonly #queryObserver: QueryObserver = {
    start: (tenant) => {
      // No SDK: nothing to record, and the context is not even looked at.
      if (!this.enabled) return undefined
      // A child of the span in context (the request's, a job's, your own) when that one is recorded; none otherwise.
      if (trace.getSpan(context.active())?.isRecording() !== true) return undefined
      const model = tenant.isolation ?? 'shared'
      const span = this.tracer().startSpan(`db.query ${model}`, { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'tenantry.model': model } })
      setTenant(span, tenant)
      return {
        end: (outcome) => {
          if (outcome.failed) span.setStatus({ code: SpanStatusCode.ERROR })
          span.end()
        },
      }
    },
  }

  constructor(options: TenantTracingOptions = {}) {
    this.#name = options.name ?? '@tenantry/observability'
    this.#version = options.version
    this.#observer = { start: (request) => this.#start(request.method, request.route) }
  }

  /**
   * True when an SDK is registered (spans would be recorded). Checked on each
   * request and query, so an SDK registered (or removed) after start is picked
   * up at once; the API itself is asked only when its global registration
   * changed since the last check (a provider set on the registered proxy by
   * hand, `setDelegate`, bypassing `trace.setGlobalTracerProvider`, is not
   * seen until then).
   */
  get enabled(): boolean {
    // Asked on every request and query: while the global registration is the one last looked at (the
    // same API object, the same registered provider), the answer stands, and none of the API's code runs.
    const api = (globalThis as { [OTEL_GLOBAL]?: { trace?: unknown } })[OTEL_GLOBAL]
    const registered = api?.trace
    if (this.#seen && api === this.#api && registered === this.#registered) return this.#enabled
    // Another registration: the tracer taken from the last one (an SDK's own, once one is registered) goes.
    if (api !== this.#api || registered !== this.#registered) this.#tracer = undefined
    const enabled = this.#ask()
    // "No SDK" is kept only while nothing is registered: a provider registered but not recording yet (its
    // delegate set a moment later, in the same call) is asked again next time.
    this.#seen = enabled || registered === undefined
    this.#enabled = enabled
    this.#api = api
    this.#registered = registered
    return enabled
  }

  /** Whether the global provider records: the API asked. */
  #ask(): boolean {
    const provider = trace.getTracerProvider() as { getDelegate?: () => unknown; getDelegateTracer?: (name: string, version?: string) => Tracer | undefined }
    // The API's proxy provider has no delegate until an SDK registers one.
    if (typeof provider.getDelegateTracer !== 'function') return true
    // Asked again only when the delegate changed (an SDK registered or removed): asking makes the SDK look its tracer up.
    const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : undefined
    if (delegate !== undefined && delegate === this.#delegate) return this.#delegateEnabled
    this.#delegate = delegate
    this.#delegateEnabled = provider.getDelegateTracer(this.#name, this.#version) !== undefined
    return this.#delegateEnabled
  }

  /** The tracer (the global provider's: taken again when another SDK was registered since). */
  tracer(): Tracer {
    void this.enabled
    return (this.#tracer ??= trace.getTracer(this.#name, this.#version))
  }

  /**
   * The request observer for the HTTP adapters' `observer` option: a SERVER
   * span `METHOD route` per tenant request, with the tenant's attributes once
   * resolved, the handler run in its context (query spans and outgoing calls
   * are its children), `http.response.status_code`, and an error status for 5xx.
   * A request the SDK's sampler does not record costs the sampling decision only.
   *
   * @example
   * app.use(tenantryExpress({ resolution, observer: tracing.observer() }))
   */
  observer(): RequestObserver {
    return this.#observer
  }

  #start(method: string, route: string): RequestObservation | undefined {
    if (!this.enabled) return undefined
    const span = this.tracer().startSpan(`${method} ${route}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': method, 'http.route': route },
    })
    // Not sampled: nothing to record, and no context to carry through the request (its queries are not traced either).
    if (!span.isRecording()) return undefined
    const active = trace.setSpan(context.active(), span)
    return {
      tenant: (tenant) => setTenant(span, tenant),
      run: (fn) => context.with(active, fn),
      end: (outcome) => {
        span.setAttribute('http.response.status_code', outcome.status)
        if (outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
        span.end()
      },
    }
  }

  /**
   * The query observer for `TenantData`'s `queryObserver` (or
   * `createTenantry({ observe: { queries } })`): a CLIENT span `db.query
   * <model>` per query of a tenant, a child of the span in context (the
   * request's, a job's, one of yours) when that span is recorded, with the
   * tenant's attributes and no SQL text. With no recorded span in context (no
   * SDK, a request the sampler skipped) it does nothing.
   *
   * @example
   * createTenantry({ …, observe: { requests: tracing.observer(), queries: tracing.queryObserver() } })
   */
  queryObserver(): QueryObserver {
    return this.#queryObserver
  }

  /**
   * Runs `query` in a CLIENT span `db.query <model>` with the tenant's
   * attributes (the SQL text is not recorded: it may carry literals).
   *
   * @example
   * const rows = await tracing.querySpan(tenant, 'shared', () => pool.query('select 1'))
   */
  async querySpan<T>(tenant: TenantFields, model: string, query: () => Promise<T>): Promise<T> {
    if (!this.enabled) return query()
    const span = this.tracer().startSpan(`db.query ${model}`, { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'tenantry.model': model } })
    setTenant(span, tenant)
    try {
      return await context.with(trace.setSpan(context.active(), span), query)
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as { code?: string }).code ?? 'error' })
      throw error
    } finally {
      span.end()
    }
  }

  /**
   * Runs `fn` in a context whose W3C baggage carries the current tenant's id
   * and slug (`tenant.id`, `tenant.slug`): instrumented HTTP clients (and
   * `injectTenantBaggage`) send it as the `baggage` header. Outside a tenant
   * scope, `fn` runs as it is.
   *
   * @example
   * await runWithTenant(acme, () => tracing.withTenantBaggage(() => fetch(url, { headers: injectTenantBaggage({}) })))
   */
  withTenantBaggage<T>(fn: () => T): T {
    const next = tenantBaggageContext(context.active())
    return next === undefined ? fn() : context.with(next, fn)
  }
}

/** The context with the current tenant's baggage, or undefined outside a tenant scope. */
function tenantBaggageContext(base: Context): Context | undefined {
  const scope = currentScope()
  if (scope?.kind !== 'tenant') return undefined
  const existing = propagation.getBaggage(base) ?? propagation.createBaggage()
  const baggage = existing
    .setEntry(TENANT_BAGGAGE.id, { value: scope.tenant.id })
    .setEntry(TENANT_BAGGAGE.slug, { value: scope.tenant.slug })
  return propagation.setBaggage(base, baggage)
}

/**
 * Writes the current context (trace and baggage, with the current tenant's
 * id and slug added) into `headers` through the registered propagators, for
 * a call made without HTTP instrumentation. Returns `headers`.
 *
 * @example
 * await runWithTenant(acme, () => fetch('http://billing.internal/usage', { headers: injectTenantBaggage({}) }))
 */
export function injectTenantBaggage<H extends Record<string, string>>(headers: H): H {
  const active = context.active()
  propagation.inject(tenantBaggageContext(active) ?? active, headers)
  return headers
}
