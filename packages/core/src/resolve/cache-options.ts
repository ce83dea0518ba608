import { TenantryError } from '../errors/index.ts'

/** A positive whole number option, or its default; VALIDATION_FAILED otherwise (at construction). */
export function positiveInteger(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TenantryError('VALIDATION_FAILED', `${path} must be a whole number of at least 1, got ${String(value)}`, {
      details: [{ path, message: 'must be a whole number >= 1' }],
    })
  }
  return value
}
