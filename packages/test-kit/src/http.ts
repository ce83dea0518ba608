/**
 * The one HTTP client of the tests, over node:http: fetch cannot set the Host
 * header, which tenant tests need.
 */
import http from 'node:http'

export interface HttpAnswer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
  /** The parsed JSON body; undefined when the body is empty or not JSON. */
  readonly body: any
}

export interface HttpCall {
  readonly method?: string
  readonly path: string
  readonly host?: string
  readonly headers?: Record<string, string>
  /** Sent as is (a string) or as JSON; content-type application/json unless the headers say otherwise. */
  readonly body?: unknown
}

/**
 * One request to 127.0.0.1:`port`, no keep-alive.
 *
 * @example
 * const answer = await call(port, { path: '/api/whoami', host: 'acme.localhost' })
 * assert.equal(answer.body.slug, 'acme')
 */
export function call(port: number, { method = 'GET', path, host, headers = {}, body }: HttpCall): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const sent: Record<string, string> = { ...headers }
  if (host !== undefined) sent.host = host
  if (payload !== undefined) {
    if (!Object.keys(sent).some((h) => h.toLowerCase() === 'content-type')) sent['content-type'] = 'application/json'
    sent['content-length'] = String(Buffer.byteLength(payload))
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown
        try {
          parsed = text.length ? JSON.parse(text) : undefined
        } catch {
          parsed = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** The error code of an answer, or its status and the start of its body when it is not an error. */
export function codeOf(answer: HttpAnswer): string {
  return typeof answer.body?.error?.code === 'string' ? (answer.body.error.code as string) : `${answer.status} ${answer.text.slice(0, 200)}`
}
