import { catalogContract } from '@tenantry/test-kit'
import { startFastify } from './support/fastify-app.ts'

catalogContract('fastify', startFastify)
