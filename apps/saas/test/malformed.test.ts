/**
 * Requests refused before any route runs (bad percent-encoding, a malformed
 * header line, headers too large) still get the contract's JSON error body.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { testBackends } from '@tenantry/test-kit'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

function raw(port: number, request: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (chunk) => { text += chunk })
    socket.on('error', reject)
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n')
      resolve({ status: Number(head.split(' ')[1]), body: JSON.parse(body) })
    })
    socket.end(request)
  })
}

// HTTP parsing is the same whatever the database: PGlite only.
for (const backend of testBackends().slice(0, 1)) {
  describe(`malformed requests to the reference SaaS on ${backend.name}`, () => {
    let s: SaasUnderTest
    before(async () => {
      s = await startSaasUnderTest(backend)
    })
    after(async () => {
      await s.close()
    })

    it('answers a URL that is not valid percent-encoding with 400 VALIDATION_FAILED', async () => {
      const answer = await raw(s.port, 'GET /api/projects/%E0%A4%A HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n')
      assert.equal(answer.status, 400)
      assert.equal(answer.body.error.code, 'VALIDATION_FAILED')
    })

    it('answers a malformed header line with 400 VALIDATION_FAILED in the contract shape', async () => {
      const answer = await raw(s.port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n')
      assert.equal(answer.status, 400)
      assert.deepEqual(Object.keys(answer.body), ['error'])
      assert.equal(answer.body.error.code, 'VALIDATION_FAILED')
    })

    it('answers headers too large with 431 in the contract shape', async () => {
      const answer = await raw(s.port, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
      assert.equal(answer.status, 431)
      assert.equal(answer.body.error.code, 'VALIDATION_FAILED')
    })
  })
}
