import { catalogContract } from '@tenantry/test-kit'
import { startHono } from './support/hono-app.ts'

catalogContract('hono', startHono)
