import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isTenantryError } from '@tenantry/core'
import { tenantryExpress } from '../src/index.ts'
import { httpContract, memoryFixture } from '@tenantry/test-kit'
import { startExpress } from './support/express-app.ts'

httpContract('express', startExpress, memoryFixture)

describe('express: middleware specifics', () => {
  it('fails when created with bad options', async () => {
    const { options } = await memoryFixture()
    for (const bad of [{}, { resolution: {} }, { ...options, exclude: ['/'] }, { ...options, admission: {} }]) {
      assert.throws(() => tenantryExpress(bad as never), (e: unknown) => isTenantryError(e, 'VALIDATION_FAILED'))
    }
  })
})
