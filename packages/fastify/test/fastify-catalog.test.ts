import { catalogContract } from './support/catalog-contract.ts'
import { startFastify } from './support/fastify-app.ts'

catalogContract('fastify', startFastify)
