import { TenantryError } from '@tenantry/core'

/** `schema.name(argument types)`, as `regprocedure` writes it. */
const SIGNATURE = /^[A-Za-z_][A-Za-z0-9_$]{0,62}\.[A-Za-z_][A-Za-z0-9_$]{0,62}\([^()]*\)$/

/** Why the `trustedFunctions` of every model must be signatures. */
export const TRUSTED_FUNCTIONS_RULE = 'must be a list of function signatures ("schema.name(argument types)"), so no overload is trusted by its name alone'

/**
 * Whether `value` is a valid `trustedFunctions` option (absent, or a list of
 * schema-qualified signatures with their argument lists). Every model checks it
 * the same way, when it is built: doctor trusts a function by its exact
 * signature, and an entry without its argument list would trust nothing (on
 * PostgreSQL 15, make doctor itself fail).
 *
 * @example
 * isTrustedFunctionList(['app.current_plan()', 'app.count_notes(integer)']) // true
 * isTrustedFunctionList(['app.count_notes']) // false
 */
export function isTrustedFunctionList(value: unknown): value is readonly string[] | undefined {
  return value === undefined || (Array.isArray(value) && value.every((f) => typeof f === 'string' && SIGNATURE.test(f)))
}

/**
 * The `trustedFunctions` option of a model, copied, or VALIDATION_FAILED
 * naming the model's options (as the shared model reports it).
 *
 * @example
 * this.trustedFunctions = trustedFunctionsOf(options.trustedFunctions, 'schema-per-tenant')
 */
export function trustedFunctionsOf(value: unknown, model: string): string[] {
  const list = value ?? undefined
  if (!isTrustedFunctionList(list)) {
    throw new TenantryError('VALIDATION_FAILED', `Invalid ${model} options: trustedFunctions ${TRUSTED_FUNCTIONS_RULE}`, {
      details: [{ path: 'trustedFunctions', message: TRUSTED_FUNCTIONS_RULE }],
    })
  }
  return [...(list ?? [])]
}
