export { SharedSchemaIsolation, type PurgeOptions } from './shared-schema.ts'
export type { ResolvedSharedSchemaOptions, SharedSchemaOptions, SharedWalls } from './options.ts'
