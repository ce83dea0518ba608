import { httpContract, memoryFixture } from '@tenantry/test-kit'
import { startNest } from './support/nest-app.ts'

httpContract('nestjs on express', startNest('express'), memoryFixture)
