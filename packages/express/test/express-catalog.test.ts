import { catalogContract } from '@tenantry/test-kit'
import { expressContractApp, expressVersions } from './support/express-app.ts'

for (const { name, express } of expressVersions) catalogContract(name, expressContractApp(express))
