/**
 * The raw shapes fast-check draws: trees of small numbers (which column, which
 * table, which operator) that `generate.ts` resolves against what is in scope.
 * Numbers shrink towards 0, so a shrunk query uses the first table, column and
 * operator wherever it can.
 */
import fc from 'fast-check'
import type { JoinKind } from './spec.ts'

export type RawPred =
  | { k: 'cmp'; col: number; op: number; val: number }
  | { k: 'cols'; a: number; b: number; op: number }
  | { k: 'null'; col: number; not: boolean }
  | { k: 'and' | 'or'; items: RawPred[] }
  | { k: 'not'; item: RawPred }
  | { k: 'in'; col: number; not: boolean; sub: RawSub }
  | { k: 'exists'; not: boolean; sub: RawSub }
  | { k: 'scalar'; col: number; op: number; sub: RawSub }
export interface RawSource { derived: boolean; bare: boolean; t: number; where: RawPred | null; limit: number | null }
export interface RawSub { from: RawSource; col: number; agg: number; where: RawPred | null; limit: number | null }
export interface RawCte { kind: number; name: number; from: number; columns: boolean[]; picks: number[]; where: RawPred | null }
export interface RawJoin { kind: JoinKind; lateral: boolean; src: RawSource; a: number; b: number; related: boolean; extra: RawPred | null }
export interface RawSet { col: number; val: number; how: number; sub: RawSub }
export interface RawSelect {
  k: 'select'
  ctes: RawCte[]
  from: RawSource[]
  joins: RawJoin[]
  where: RawPred | null
  agg: { groupBy: number[]; sum: number | null; having: number | null } | null
  distinct: boolean
  scalar: RawSub | null
  compound: { op: number; where: RawPred | null } | null
}
export interface RawUpdate { k: 'update'; ctes: RawCte[]; table: number; set: RawSet[]; from: RawSource | null; join: RawJoin | null; where: RawPred | null; returning: boolean }
export interface RawDelete { k: 'delete'; ctes: RawCte[]; table: number; using: RawSource | null; join: RawJoin | null; where: RawPred | null; returning: boolean }
/** mode: 0-5 INSERT ... SELECT, 6 with UNION, 7 VALUES. */
export interface RawInsert { k: 'insert'; ctes: RawCte[]; table: number; mode: number; from: RawSource; picks: number[]; subs: RawSub[]; where: RawPred | null; unionWhere: RawPred | null }
export type RawQuery = RawSelect | RawUpdate | RawDelete | RawInsert

const small = fc.nat({ max: 40 })
/** `arb` one time in `n`, null otherwise (shrinking towards null). */
const oneIn = <T>(n: number, arb: fc.Arbitrary<T>) => fc.oneof({ withCrossShrink: true }, { arbitrary: fc.constant(null), weight: n - 1 }, { arbitrary: arb, weight: 1 })
/** Present two times in three. */
const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ withCrossShrink: true }, { arbitrary: fc.constant(null), weight: 1 }, { arbitrary: arb, weight: 2 })
/** True one time in `n`; shrinks to false. */
const chance = (n: number) => fc.nat({ max: n - 1 }).map((x) => x === n - 1)
const limit = oneIn(4, fc.integer({ min: 1, max: 4 }))

const recursive = fc.letrec<{ pred: RawPred; source: RawSource; sub: RawSub }>((tie) => ({
  pred: fc.oneof(
    { maxDepth: 3, depthSize: 'small', withCrossShrink: true },
    { arbitrary: fc.record({ k: fc.constant('cmp' as const), col: small, op: small, val: small }), weight: 5 },
    { arbitrary: fc.record({ k: fc.constant('cols' as const), a: small, b: small, op: small }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('null' as const), col: small, not: fc.boolean() }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('or' as const), items: fc.array(tie('pred'), { minLength: 2, maxLength: 4 }) }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('and' as const), items: fc.array(tie('pred'), { minLength: 2, maxLength: 3 }) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('not' as const), item: tie('pred') }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('in' as const), col: small, not: fc.boolean(), sub: tie('sub') }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('exists' as const), not: fc.boolean(), sub: tie('sub') }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('scalar' as const), col: small, op: small, sub: tie('sub') }), weight: 1 },
  ),
  source: fc.record({ derived: chance(3), bare: chance(4), t: small, where: sometimes(tie('pred')), limit }),
  sub: fc.record({ from: tie('source'), col: small, agg: small, where: sometimes(tie('pred')), limit }),
}))

export const rawPred = recursive.pred
export const rawSource = recursive.source
export const rawSub = recursive.sub

/** kind: 0-5 a plain CTE, 6 a data-modifying one, 7 the recursive walk. */
const rawCte = fc.record({
  kind: fc.nat({ max: 7 }),
  name: small,
  from: small,
  columns: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
  picks: fc.array(small, { minLength: 4, maxLength: 4 }),
  where: sometimes(rawPred),
})
const rawCtes = fc.array(rawCte, { maxLength: 2 })

const rawJoin = fc.record({
  kind: fc.constantFrom<JoinKind>('inner', 'left', 'right', 'full', 'cross'),
  lateral: chance(5),
  src: rawSource,
  a: small,
  b: small,
  related: fc.boolean(),
  extra: sometimes(rawPred),
})

const rawSelect: fc.Arbitrary<RawSelect> = fc.record({
  k: fc.constant('select' as const),
  ctes: rawCtes,
  from: fc.array(rawSource, { minLength: 1, maxLength: 2 }),
  joins: fc.array(rawJoin, { maxLength: 2 }),
  where: sometimes(rawPred),
  agg: oneIn(3, fc.record({ groupBy: fc.array(small, { maxLength: 2 }), sum: sometimes(small), having: oneIn(2, fc.nat({ max: 2 })) })),
  distinct: fc.boolean(),
  scalar: oneIn(5, rawSub),
  compound: oneIn(4, fc.record({ op: small, where: sometimes(rawPred) })),
})
const rawUpdate: fc.Arbitrary<RawUpdate> = fc.record({
  k: fc.constant('update' as const),
  ctes: fc.array(rawCte, { maxLength: 1 }),
  table: small,
  set: fc.array(fc.record({ col: small, val: small, how: fc.nat({ max: 5 }), sub: rawSub }), { minLength: 1, maxLength: 2 }),
  from: sometimes(rawSource),
  join: oneIn(2, rawJoin),
  where: sometimes(rawPred),
  returning: fc.boolean(),
})
const rawDelete: fc.Arbitrary<RawDelete> = fc.record({
  k: fc.constant('delete' as const),
  ctes: fc.array(rawCte, { maxLength: 1 }),
  table: small,
  using: sometimes(rawSource),
  join: oneIn(2, rawJoin),
  where: sometimes(rawPred),
  returning: fc.boolean(),
})
const rawInsert: fc.Arbitrary<RawInsert> = fc.record({
  k: fc.constant('insert' as const),
  ctes: fc.array(rawCte, { maxLength: 1 }),
  table: small,
  mode: fc.nat({ max: 7 }),
  from: rawSource,
  picks: fc.array(small, { minLength: 6, maxLength: 6 }),
  subs: fc.array(rawSub, { minLength: 1, maxLength: 2 }),
  where: sometimes(rawPred),
  unionWhere: sometimes(rawPred),
})

export const rawQuery: fc.Arbitrary<RawQuery> = fc.oneof(
  { withCrossShrink: true },
  { arbitrary: rawSelect, weight: 6 },
  { arbitrary: rawUpdate, weight: 2 },
  { arbitrary: rawDelete, weight: 2 },
  { arbitrary: rawInsert, weight: 1 },
)
