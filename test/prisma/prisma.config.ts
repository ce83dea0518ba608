// For running the CLI by hand (docs/prisma.md):
//   PRISMA_SCHEMA_ENGINE_BINARY=test/prisma/no-schema-engine.txt CHECKPOINT_DISABLE=1 \
//     npx prisma generate --config test/prisma/prisma.config.ts
// Prisma 7 takes its settings from this file, not from schema.prisma (a `url` in the
// datasource block is error P1012), and loads no .env file itself. Generating the
// client needs no datasource URL: only Migrate and introspection read one here.
// The tests do not use this file: generatePrismaClient() (generate-client.ts) runs
// the same generator on a copy of the schema.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: './schema.prisma',
})
