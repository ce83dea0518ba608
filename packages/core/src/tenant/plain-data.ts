import type { ValidationIssue } from '../errors/index.ts'

/** Keys JSON may carry that would change an object's prototype if copied with assignment or merged. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

const forbiddenKeyMessage = (key: string): string => `"${key}" is not allowed as a key (it would change how the object behaves, not its data)`

/**
 * The `__proto__`, `constructor` and `prototype` keys anywhere in a parsed
 * JSON value, as validation issues (`body.settings.__proto__`). `JSON.parse`
 * keeps such a key as plain data, but code that merges or copies the object
 * later may not: refuse it at the edge, saying why.
 *
 * @example
 * const issues = forbiddenKeys(JSON.parse(text), 'body')
 * if (issues.length) throw validationError(issues)
 */
export function forbiddenKeys(value: unknown, path: string): ValidationIssue[] {
  const issues: ValidationIssue[] = []
  const visit = (node: unknown, at: string, depth: number): void => {
    if (typeof node !== 'object' || node === null || depth > 64) return
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, `${at}[${i}]`, depth + 1))
      return
    }
    for (const key of Object.keys(node)) {
      if (FORBIDDEN_KEYS.has(key)) issues.push({ path: `${at}.${key}`, message: forbiddenKeyMessage(key) })
      else visit((node as Record<string, unknown>)[key], `${at}.${key}`, depth + 1)
    }
  }
  visit(value, path, 0)
  return issues
}

/** A JSON value made of plain objects, arrays and primitives, without a key that could reach a prototype. */
export function isPlainData(value: unknown, path: string, issues: ValidationIssue[], depth = 0): boolean {
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
        issues.push({ path: `${path}.${key}`, message: forbiddenKeyMessage(key) })
        ok = false
      } else if (!isPlainData((value as Record<string, unknown>)[key], `${path}.${key}`, issues, depth + 1)) ok = false
    }
    return ok
  }
  issues.push({ path, message: 'must be JSON data (objects, arrays, strings, numbers, booleans, null)' })
  return false
}
