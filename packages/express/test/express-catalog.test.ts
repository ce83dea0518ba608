import { catalogContract } from '@tenantry/test-kit'
import { startExpress } from './support/express-app.ts'

catalogContract('express', startExpress)
