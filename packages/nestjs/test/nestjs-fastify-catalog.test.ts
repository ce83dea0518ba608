import { catalogContract } from '@tenantry/test-kit'
import { startNest } from './support/nest-app.ts'

catalogContract('nestjs on fastify', startNest('fastify'))
