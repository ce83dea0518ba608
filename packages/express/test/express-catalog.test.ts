import { catalogContract } from '../../fastify/test/support/catalog-contract.ts'
import { startExpress } from './support/express-app.ts'

catalogContract('express', startExpress)
