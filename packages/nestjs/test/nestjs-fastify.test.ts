import { httpContract, memoryFixture, observerContract, refusalContract } from '@tenantry/test-kit'
import { startNest } from './support/nest-app.ts'

httpContract('nestjs on fastify', startNest('fastify'), memoryFixture)
refusalContract('nestjs on fastify', startNest('fastify'), memoryFixture, { contentType: 'application/json; charset=utf-8' })
observerContract('nestjs on fastify', startNest('fastify'), memoryFixture)
