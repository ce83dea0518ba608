/**
 * The generated Prisma client of schema.prisma, loaded for a test. Its own types
 * live in the git-ignored .generated folder, which `tsc` does not read (on a
 * fresh checkout it does not exist when the typecheck runs), so this module
 * states what Tenantry's tests use of it.
 *
 * @example
 * const { PrismaClient } = await importPrismaFixtureClient()
 * const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
 * await prisma.project.create({ data: { tenantId, name: 'Apollo' } })
 */
import { pathToFileURL } from 'node:url'
import type { PrismaPg } from '@prisma/adapter-pg'
import { generatePrismaClient } from './generate-client.ts'

export interface ProjectRow {
  readonly tenantId: string
  readonly id: string
  readonly name: string
  readonly tasks?: readonly TaskRow[]
}

export interface TaskRow {
  readonly tenantId: string
  readonly id: string
  readonly projectId: string
  readonly title: string
  readonly done: boolean
}

/** A model's query methods. Each returns a lazy PrismaPromise: nothing is sent until it is awaited. */
export interface PrismaModel<Row> {
  create(args: { readonly data: object; readonly include?: object; readonly select?: object }): Promise<Row>
  createMany(args: { readonly data: readonly object[] }): Promise<{ count: number }>
  findMany(args?: { readonly where?: object; readonly include?: object; readonly orderBy?: object; readonly take?: number }): Promise<Row[]>
  findUnique(args: { readonly where: object; readonly include?: object }): Promise<Row | null>
  findUniqueOrThrow(args: { readonly where: object; readonly include?: object }): Promise<Row>
  findFirst(args?: { readonly where?: object }): Promise<Row | null>
  count(args?: { readonly where?: object }): Promise<number>
  update(args: { readonly where: object; readonly data: object }): Promise<Row>
  updateMany(args: { readonly where?: object; readonly data: object }): Promise<{ count: number }>
  upsert(args: { readonly where: object; readonly create: object; readonly update: object }): Promise<Row>
  delete(args: { readonly where: object }): Promise<Row>
  deleteMany(args?: { readonly where?: object }): Promise<{ count: number }>
}

export type PrismaIsolationLevel = 'ReadUncommitted' | 'ReadCommitted' | 'RepeatableRead' | 'Serializable'

export interface PrismaTransactionOptions {
  readonly isolationLevel?: PrismaIsolationLevel
  /** Longest wait for a connection, ms (Prisma's default 2000). */
  readonly maxWait?: number
  /** Longest the callback may run, ms (Prisma's default 5000); then Prisma rolls back. */
  readonly timeout?: number
}

/** What an interactive transaction's callback gets: the same API, bound to one connection. */
export interface PrismaFixtureQueries {
  readonly project: PrismaModel<ProjectRow>
  readonly task: PrismaModel<TaskRow>
  $queryRaw<T = unknown>(strings: TemplateStringsArray, ...values: unknown[]): Promise<T>
  $executeRaw(strings: TemplateStringsArray, ...values: unknown[]): Promise<number>
  $queryRawUnsafe<T = unknown>(sql: string, ...values: unknown[]): Promise<T>
  $executeRawUnsafe(sql: string, ...values: unknown[]): Promise<number>
  /** Inside a transaction: a savepoint. */
  $transaction<T>(fn: (tx: PrismaFixtureQueries) => Promise<T>, options?: PrismaTransactionOptions): Promise<T>
}

export interface PrismaFixtureClient extends PrismaFixtureQueries {
  /** A batch: the queries run in order in one transaction. */
  $transaction<P extends readonly Promise<unknown>[]>(queries: [...P], options?: Pick<PrismaTransactionOptions, 'isolationLevel'>): Promise<{ -readonly [K in keyof P]: Awaited<P[K]> }>
  $transaction<T>(fn: (tx: PrismaFixtureQueries) => Promise<T>, options?: PrismaTransactionOptions): Promise<T>
  $disconnect(): Promise<void>
  /** A client with extensions (none here): it shares this client's engine and dataloader. */
  $extends(extension: object): PrismaFixtureClient
}

export interface PrismaFixtureClientModule {
  readonly PrismaClient: new (options: { readonly adapter: PrismaPg }) => PrismaFixtureClient
}

/** Generates the client if needed (see generatePrismaClient) and imports it. Needs tsx: the client is TypeScript. */
export async function importPrismaFixtureClient(): Promise<PrismaFixtureClientModule> {
  return (await import(pathToFileURL(await generatePrismaClient()).href)) as PrismaFixtureClientModule
}
