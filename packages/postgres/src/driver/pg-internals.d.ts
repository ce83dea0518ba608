// node-postgres keeps its value serializer in an internal module; Tenantry uses it so
// pipelined statements encode parameters exactly as a plain `client.query` would.
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue(value: unknown): unknown }
  export default utils
}
