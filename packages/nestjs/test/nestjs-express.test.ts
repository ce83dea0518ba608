import { httpContract, memoryFixture, observerContract, refusalContract } from '@tenantry/test-kit'
import { startNest } from './support/nest-app.ts'

httpContract('nestjs on express', startNest('express'), memoryFixture)
refusalContract('nestjs on express', startNest('express'), memoryFixture, { contentType: 'application/json; charset=utf-8' })
observerContract('nestjs on express', startNest('express'), memoryFixture)
