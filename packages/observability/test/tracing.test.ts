import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { combineObservers, currentTenant, runWithTenant, type ScopedTenant } from '@tenantry/core'
import { tenantryFastify } from '@tenantry/fastify'
import { call, memoryFixture } from '@tenantry/test-kit'
import Fastify from 'fastify'
import { TenantMetrics, TenantTracing, injectTenantBaggage } from '../src/index.ts'

const acme: ScopedTenant = { id: '6f1c1f3e-8a43-4a51-9b1e-0c5b4ad8e0a1', slug: 'acme', status: 'active', isolation: 'schema' }

// In order: the first test runs before any SDK is registered (one process per test file).
/** Made before any SDK is registered: it must see one registered later. */
const early = new TenantTracing({ name: 'early' })

describe('TenantTracing', () => {
  it('does nothing without an SDK: no observation, no span, the query runs as it is', async () => {
    assert.equal(early.enabled, false)
    const tracing = new TenantTracing()
    assert.equal(tracing.enabled, false)
    assert.equal(tracing.observer().start({ method: 'GET', route: '/x' }), undefined)
    assert.equal(tracing.queryObserver().start(acme), undefined)
    assert.equal(await tracing.querySpan(acme, 'shared', async () => 42), 42)
  })

  describe('with an SDK (in-memory exporter)', () => {
    const exporter = new InMemorySpanExporter()
    const register = (): void => {
      if (trace.getTracerProvider() instanceof BasicTracerProvider) return
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
      propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }))
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
    }

    it('makes a SERVER span per tenant request with the tenant\'s attributes, query spans as its children, and sends the tenant in W3C baggage', async () => {
      register()
      exporter.reset()
      const tracing = new TenantTracing()
      assert.equal(tracing.enabled, true)
      const fixture = await memoryFixture()
      const metrics = new TenantMetrics()
      const app = Fastify({ logger: false })
      await app.register(tenantryFastify, { ...fixture.options, errorHandler: true, observer: combineObservers(metrics.observer(), tracing.observer()) })
      app.get('/api/work', async () => {
        const tenant = currentTenant()
        await tracing.querySpan(tenant, 'shared', async () => 1)
        const observation = tracing.queryObserver().start({ id: tenant.id, slug: tenant.slug, status: tenant.status, isolation: 'shared' })
        observation?.end({ tenant: { id: tenant.id, slug: tenant.slug, status: tenant.status, isolation: 'shared' }, durationMs: 1, failed: true })
        // What an outgoing call would carry: traceparent (this request's trace) and the tenant in baggage.
        return { headers: injectTenantBaggage({}) }
      })
      app.get('/api/boom', async () => {
        throw new Error('boom')
      })
      await app.listen({ host: '127.0.0.1', port: 0 })
      try {
        const port = (app.server.address() as { port: number }).port
        const answer = await call(port, { path: '/api/work', host: `${fixture.acme.slug}.localhost`, headers: { authorization: `Bearer ${fixture.acme.key}` } })
        assert.equal(answer.status, 200, answer.text)
        const failed = await call(port, { path: '/api/boom', host: `${fixture.acme.slug}.localhost`, headers: { authorization: `Bearer ${fixture.acme.key}` } })
        assert.equal(failed.status, 500)
        for (let i = 0; i < 100 && exporter.getFinishedSpans().filter((s) => s.name.startsWith('GET')).length < 2; i++) await new Promise((r) => setTimeout(r, 5))
        const spans = exporter.getFinishedSpans()
        const server = spans.find((s) => s.name === 'GET /api/work')
        assert.ok(server, `a request span (got ${spans.map((s) => s.name).join(', ')})`)
        assert.equal(server.kind, 1 /* SERVER */)
        assert.equal(server.attributes['tenant.slug'], 'acme')
        assert.equal(typeof server.attributes['tenant.id'], 'string')
        assert.equal(server.attributes['tenant.isolation'], 'shared')
        assert.equal(server.attributes['http.response.status_code'], 200)
        assert.equal(server.attributes['http.route'], '/api/work')
        // No personal data: only the tenant's id, slug and model, and the route.
        assert.deepEqual(Object.keys(server.attributes).sort(), ['http.request.method', 'http.response.status_code', 'http.route', 'tenant.id', 'tenant.isolation', 'tenant.slug'])
        const queries = spans.filter((s) => s.name === 'db.query shared')
        assert.equal(queries.length, 2)
        for (const q of queries) {
          assert.equal(q.parentSpanContext?.spanId, server.spanContext().spanId, 'a query span is a child of its request span')
          assert.equal(q.spanContext().traceId, server.spanContext().traceId)
          assert.equal(q.attributes['tenant.slug'], 'acme')
        }
        assert.equal(queries.filter((q) => q.status.code === 2 /* ERROR */).length, 1)
        const headers = (answer.body as { headers: Record<string, string> }).headers
        assert.match(headers.traceparent ?? '', new RegExp(`^00-${server.spanContext().traceId}-`))
        assert.match(headers.baggage ?? '', /tenant\.slug=acme/)
        assert.match(headers.baggage ?? '', new RegExp(`tenant\\.id=${server.attributes['tenant.id']}`))
        const boom = spans.find((s) => s.name === 'GET /api/boom')
        assert.equal(boom?.status.code, 2, 'a 5xx marks the request span as an error')
        // The metrics observer, combined with it, counted both requests.
        assert.match(await metrics.text(), /tenantry_http_requests_total\{tenant="[^"]+",method="GET",route="\/api\/boom",status_class="5xx"\} 1/)
      } finally {
        await app.close()
      }
    })

    it('carries the tenant in baggage for calls made inside withTenantBaggage, and adds nothing outside a tenant scope', async () => {
      register()
      const tracing = new TenantTracing()
      const inside = await runWithTenant(acme, () => tracing.withTenantBaggage(() => {
        const carrier: Record<string, string> = {}
        propagation.inject(context.active(), carrier)
        return carrier
      }))
      assert.match(inside.baggage ?? '', /tenant\.id=6f1c1f3e-8a43-4a51-9b1e-0c5b4ad8e0a1/)
      assert.match(inside.baggage ?? '', /tenant\.slug=acme/)
      const outside = injectTenantBaggage<Record<string, string>>({})
      assert.equal(outside.baggage, undefined)
    })

    it('sees an SDK registered after it was first asked, and one removed (trace.disable)', () => {
      register()
      assert.equal(early.enabled, true, 'registered after the first request')
      assert.ok(early.observer().start({ method: 'GET', route: '/x' }) !== undefined)
      trace.disable()
      assert.equal(early.enabled, false, 'removed')
      assert.equal(early.observer().start({ method: 'GET', route: '/x' }), undefined)
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
      assert.equal(early.enabled, true, 'registered again')
      // Asked again and again with nothing changed: the same answer (the API is asked only on a change).
      for (let i = 0; i < 3; i++) assert.equal(early.enabled, true)
      // Another copy of the API registering its own provider in the shared global slot is seen at once.
      const slot = (globalThis as unknown as Record<symbol, { trace?: unknown }>)[Symbol.for('opentelemetry.js.api.1')]
      assert.ok(slot !== undefined)
      const ours = slot.trace
      const noRecording = { getTracer: () => trace.getTracer('x'), getDelegate: () => ({}), getDelegateTracer: () => undefined }
      slot.trace = noRecording
      assert.equal(early.enabled, false, "another copy's provider that records nothing")
      assert.equal(early.observer().start({ method: 'GET', route: '/x' }), undefined)
      slot.trace = ours
      assert.equal(early.enabled, true, 'ours again')
      // Taken out of the slot by hand: the API falls back to its own proxy (which still has the SDK); the same answer as a fresh check.
      delete slot.trace
      assert.equal(early.enabled, new TenantTracing({ name: 'early' }).enabled)
      slot.trace = ours
      assert.equal(early.enabled, true)
    })

    it('records into the SDK registered now, not the one its tracer first came from (disable, then another SDK)', () => {
      register()
      const tracing = new TenantTracing({ name: 'swap' })
      const first = new InMemorySpanExporter()
      const second = new InMemorySpanExporter()
      trace.disable()
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(first)] }))
      tracing.observer().start({ method: 'GET', route: '/a' })?.end({ method: 'GET', route: '/a', status: 200, tenant: undefined, durationMs: 1, limited: false, rejected: false })
      trace.disable()
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(second)] }))
      tracing.observer().start({ method: 'GET', route: '/b' })?.end({ method: 'GET', route: '/b', status: 200, tenant: undefined, durationMs: 1, limited: false, rejected: false })
      assert.deepEqual(first.getFinishedSpans().map((s) => s.name), ['GET /a'])
      assert.deepEqual(second.getFinishedSpans().map((s) => s.name), ['GET /b'], 'the second SDK records the second request')
    })
  })
})
