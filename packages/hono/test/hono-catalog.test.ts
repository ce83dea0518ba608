import { catalogContract } from '../../fastify/test/support/catalog-contract.ts'
import { startHono } from './support/hono-app.ts'

catalogContract('hono', startHono)
