import { catalogContract } from '@tenantry/test-kit'
import { honoContractApp, nodeServers } from './support/hono-app.ts'

for (const { name, serve } of nodeServers) catalogContract(name, honoContractApp(serve))
