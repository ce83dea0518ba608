export * from './model.ts'
export * from './identifiers.ts'
export * from './lifecycle.ts'
export * from './input.ts'
