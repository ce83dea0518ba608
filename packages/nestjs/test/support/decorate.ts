/**
 * Nest's decorators applied as functions, so the test apps need neither
 * `experimentalDecorators` nor `emitDecoratorMetadata` (tsx's esbuild emits no
 * metadata; the package itself is written the same way).
 */

/** Applies method decorators (`Get('x')`, `HttpCode(200)`) to `target.prototype[key]`. */
export function method(target: Function, key: string, ...decorators: MethodDecorator[]): void {
  const descriptor = Object.getOwnPropertyDescriptor(target.prototype, key)
  if (descriptor === undefined) throw new Error(`${target.name} has no method ${key}`)
  for (const decorate of decorators) decorate(target.prototype, key, descriptor)
}

/** Applies a parameter decorator (`Body()`, `CurrentTenant()`) to parameter `index` of `target.prototype[key]`. */
export function parameter(target: Function, key: string, index: number, decorate: ParameterDecorator): void {
  decorate(target.prototype, key, index)
}

/** Applies a parameter decorator (`Inject(TOKEN)`) to constructor parameter `index`. */
export function constructorParameter(target: Function, index: number, decorate: ParameterDecorator): void {
  decorate(target, undefined, index)
}
