#!/usr/bin/env node
// Builds every workspace package that has a tsconfig.build.json, in dependency order.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const order = ['core', 'kysely', 'postgres', 'drizzle', 'prisma', 'redis', 'bullmq', 'pg-boss', 'observability', 'fastify', 'express', 'hono', 'nestjs', 'cli']
for (const name of order) {
  const config = `packages/${name}/tsconfig.build.json`
  if (!existsSync(config)) continue
  console.log(`build ${name}`)
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', config], { stdio: 'inherit' })
}
