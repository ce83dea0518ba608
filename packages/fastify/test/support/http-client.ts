/** A tiny HTTP client over node:http: fetch cannot set the Host header, which tenant tests need. */
import http from 'node:http'

export interface HttpAnswer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
  readonly json: any
}

export interface HttpCall {
  readonly method?: string
  readonly path: string
  readonly host?: string
  readonly headers?: Record<string, string>
  /** Sent as is (a string) or as JSON. */
  readonly body?: unknown
}

export function call(port: number, { method = 'GET', path, host, headers = {}, body }: HttpCall): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const sent: Record<string, string> = { ...headers }
  if (host !== undefined) sent.host = host
  if (payload !== undefined) {
    sent['content-type'] ??= 'application/json'
    sent['content-length'] = String(Buffer.byteLength(payload))
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try {
          json = text.length ? JSON.parse(text) : undefined
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}
