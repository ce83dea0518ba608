import { MAX_ISSUES, type ValidationIssue } from '../errors/tenantry-error.ts'

/** Keys JSON may carry that would change an object's prototype if copied with assignment or merged. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

const forbiddenKeyMessage = (key: string): string => `"${key}" is not allowed as a key (it would change how the object behaves, not its data)`

/** Characters of a key shown in an issue's path; a longer key is cut ("…"). */
const KEY_IN_PATH = 64

/** A path step for `key`: `.key`, cut when the key is long (a path names where, it need not copy the input). */
export const pathStep = (key: string): string => `.${key.length > KEY_IN_PATH ? `${key.slice(0, KEY_IN_PATH)}…` : key}`

/**
 * The `__proto__`, `constructor` and `prototype` keys anywhere in a parsed
 * JSON value, as validation issues (`body.settings.__proto__`). `JSON.parse`
 * keeps such a key as plain data, but code that merges or copies the object
 * later may not: refuse it at the edge, saying why. It stops at the first
 * `MAX_ISSUES` (50) found, builds a path only for an issue, and cuts long keys
 * in paths, so its cost and its issues stay bounded by the input's size.
 *
 * @example
 * const issues = forbiddenKeys(JSON.parse(text), 'body')
 * if (issues.length) throw validationError(issues)
 */
export function forbiddenKeys(value: unknown, path: string): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  // The steps from the root to the node visited (a path is joined only for an issue).
  const steps: string[] = []
  const visit = (node: unknown, depth: number): void => {
    if (typeof node !== 'object' || node === null || depth > 64) return
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length && issues.length < MAX_ISSUES; i++) {
        steps.push(`[${i}]`)
        visit(node[i], depth + 1)
        steps.pop()
      }
      return
    }
    for (const key of Object.keys(node)) {
      if (issues.length >= MAX_ISSUES) return
      if (FORBIDDEN_KEYS.has(key)) {
        issues.push({ path: `${path}${steps.join('')}.${key}`, message: forbiddenKeyMessage(key) })
        continue
      }
      steps.push(pathStep(key))
      visit((node as Record<string, unknown>)[key], depth + 1)
      steps.pop()
    }
  }
  visit(value, 0)
  return issues
}

/** A JSON value made of plain objects, arrays and primitives, without a key that could reach a prototype. */
export function isPlainData(value: unknown, path: string, issues: ValidationIssue[], depth = 0): boolean {
  // Past MAX_ISSUES the answer is already no: stop looking.
  if (issues.length >= MAX_ISSUES) return false
  if (depth === 0 && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    issues.push({ path, message: 'must be a JSON object' })
    return false
  }
  if (depth > 16) {
    issues.push({ path, message: 'is nested too deeply (at most 16 levels)' })
    return false
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return true
    issues.push({ path, message: 'must be a finite number' })
    return false
  }
  if (Array.isArray(value)) return value.every((item, i) => isPlainData(item, `${path}[${i}]`, issues, depth + 1))
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    let ok = true
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) {
        issues.push({ path: `${path}${pathStep(key)}`, message: forbiddenKeyMessage(key) })
        ok = false
      } else if (!isPlainData((value as Record<string, unknown>)[key], `${path}${pathStep(key)}`, issues, depth + 1)) ok = false
    }
    return ok
  }
  issues.push({ path, message: 'must be JSON data (objects, arrays, strings, numbers, booleans, null)' })
  return false
}
