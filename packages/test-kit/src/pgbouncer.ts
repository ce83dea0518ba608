/**
 * A throwaway PgBouncer in front of the test's PostgreSQL server, for tests
 * that prove Tenantry behind a transaction pooler: a config and an auth file in
 * a fresh temp folder, PgBouncer started as a child process on a free loopback
 * port, and on stop() the process killed and the folder removed.
 *
 * The binary is named by TENANTRY_PGBOUNCER (CI sets it): unset, the tests
 * skip and say why (`pgBouncerUnsupported()`); set but not runnable, they fail.
 * PgBouncer refuses to run as root: as root it is started with `-u postgres`
 * and the folder is handed to that user.
 *
 * Authentication is `trust` on both sides (the server's 127.0.0.1 is trust in
 * the test cluster), but PgBouncer still admits only the users its auth file
 * lists: pass every role the test logs in as (`users`), or add them later
 * (`allowUsers`, which rewrites the file and reloads).
 *
 * @example
 * const bouncer = await startPgBouncer({ users: ['postgres', runtimeRole], poolSize: 3 })
 * after(() => bouncer.stop())
 * const pool = new pg.Pool({ connectionString: bouncer.url(databaseName, runtimeRole) })
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from './ports.ts'

export interface PgBouncerOptions {
  /** The PostgreSQL server behind it (its host and port are used). Default: TENANTRY_PG_URL. */
  readonly server?: string
  /** Roles that may log in through it (the auth file). The admin user is always added. */
  readonly users?: readonly string[]
  /** `default_pool_size`: server connections per database and user. Default 3. */
  readonly poolSize?: number
  /** `max_client_conn`. Default 500. */
  readonly maxClientConnections?: number
  /** `pool_mode`. Default `transaction`. */
  readonly poolMode?: 'session' | 'transaction' | 'statement'
  /**
   * Extra `[databases]` entries before the wildcard one, by alias: the text after
   * `=` (e.g. `host=127.0.0.1 port=5432 dbname=app pool_size=1`).
   */
  readonly databases?: Readonly<Record<string, string>>
  /** Extra `[pgbouncer]` settings (override the defaults here). */
  readonly settings?: Readonly<Record<string, string | number>>
  /** Who may use the admin console (`SHOW POOLS`, `RELOAD`). Default `postgres`. */
  readonly adminUser?: string
  /** The binary. Default: TENANTRY_PGBOUNCER. */
  readonly binary?: string
}

export interface PgBouncer {
  /** Its loopback port. */
  readonly port: number
  /** The temp folder holding its config, auth file and log. */
  readonly dir: string
  /** A URL through it: `database` (default `postgres`) as `user` (default the admin user), no password (trust). */
  url(database?: string, user?: string): string
  /** Adds roles to the auth file and reloads the config; existing connections stay. */
  allowUsers(users: readonly string[]): Promise<void>
  /** Runs an admin console command (`SHOW POOLS`, `SHOW SERVERS`, `RELOAD`, `RECONNECT`) and returns its rows. */
  admin<R extends Record<string, unknown> = Record<string, unknown>>(command: string): Promise<R[]>
  /** Its log so far (empty once stopped). */
  log(): string
  /** Stops it (SIGTERM, then SIGKILL) and removes its folder. Safe to call twice. */
  stop(): Promise<void>
}

/** Why no PgBouncer test can run here (TENANTRY_PGBOUNCER is unset), or undefined when they must. */
export function pgBouncerUnsupported(): string | undefined {
  if (!process.env.TENANTRY_PGBOUNCER) return 'TENANTRY_PGBOUNCER is not set (the path of a pgbouncer binary; CI sets it)'
  return undefined
}

interface Runner {
  readonly args: readonly string[]
  /** uid/gid the folder must belong to, when PgBouncer runs as another user. */
  readonly owner: { uid: number; gid: number } | undefined
}

/** How to run PgBouncer as this process's user: as root, `-u postgres` (it refuses root). */
function runner(): Runner {
  if (process.getuid?.() !== 0) return { args: [], owner: undefined }
  let uid: number
  let gid: number
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  } catch {
    throw new Error(`Cannot start PgBouncer: it refuses to run as root (${userInfo().username}) and there is no postgres user to run it as`)
  }
  return { args: ['-u', 'postgres'], owner: { uid, gid } }
}

const USER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

function authLine(user: string): string {
  return `"${user.replaceAll('"', '""')}" ""`
}

function waitForPort(port: number, child: ChildProcess, stderr: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`PgBouncer exited at start (${child.exitCode ?? child.signalCode}): ${stderr().trim() || 'no output'}`))
        return
      }
      const socket = connect({ host: '127.0.0.1', port })
      socket.once('connect', () => {
        socket.destroy()
        resolve()
      })
      socket.once('error', () => {
        socket.destroy()
        if (Date.now() > deadline) reject(new Error(`PgBouncer did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${stderr().trim() || 'no output'}`))
        else setTimeout(attempt, 25)
      })
    }
    attempt()
  })
}

/** Every PgBouncer still running, killed synchronously if the test process exits without stop(). */
const running = new Set<() => void>()
process.once('exit', () => {
  for (const stopNow of running) stopNow()
})

/**
 * Starts PgBouncer in front of the test server; throws (with the reason and
 * PgBouncer's output) when TENANTRY_PGBOUNCER is unset or it cannot start.
 */
export async function startPgBouncer(options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const binary = options.binary ?? process.env.TENANTRY_PGBOUNCER
  if (!binary) throw new Error(`Cannot start PgBouncer: ${pgBouncerUnsupported()}`)
  try {
    accessSync(binary, constants.X_OK)
  } catch {
    throw new Error(`TENANTRY_PGBOUNCER is set (${binary}) but that is not an executable file`)
  }
  const serverUrl = options.server ?? process.env.TENANTRY_PG_URL
  if (!serverUrl) throw new Error('Cannot start PgBouncer: no server to put it in front of (options.server, or TENANTRY_PG_URL)')
  const server = new URL(serverUrl)
  const serverHost = server.hostname || '127.0.0.1'
  const serverPort = Number(server.port || 5432)
  const admin = options.adminUser ?? 'postgres'
  const users = new Set<string>([admin, ...(options.users ?? [])])
  for (const user of users) if (!USER.test(user)) throw new Error(`PgBouncer user "${user}" must be a plain role name`)
  for (const alias of Object.keys(options.databases ?? {})) if (!USER.test(alias)) throw new Error(`PgBouncer database alias "${alias}" must be a plain name`)
  const found = runner()

  const dir = mkdtempSync(join(tmpdir(), 'tenantry-pgbouncer-'))
  const ini = join(dir, 'pgbouncer.ini')
  const authFile = join(dir, 'users.txt')
  const logFile = join(dir, 'pgbouncer.log')
  const handOver = (path: string): void => {
    if (found.owner) chownSync(path, found.owner.uid, found.owner.gid)
  }
  const writeAuthFile = (): void => {
    writeFileSync(authFile, `${[...users].map(authLine).join('\n')}\n`, { mode: 0o600 })
    handOver(authFile)
  }
  const config = (port: number): string => {
    const settings: Record<string, string | number> = {
      listen_addr: '127.0.0.1',
      listen_port: port,
      unix_socket_dir: '',
      auth_type: 'trust',
      auth_file: authFile,
      admin_users: admin,
      pool_mode: options.poolMode ?? 'transaction',
      default_pool_size: options.poolSize ?? 3,
      min_pool_size: 0,
      reserve_pool_size: 0,
      max_client_conn: options.maxClientConnections ?? 500,
      // node-postgres sends none of these, but other clients (JDBC, psql -c options) do.
      ignore_startup_parameters: 'extra_float_digits,options',
      // A pool with no server connection to give fails fast instead of hanging a test.
      query_wait_timeout: 30,
      server_login_retry: 1,
      logfile: logFile,
      pidfile: join(dir, 'pgbouncer.pid'),
      ...options.settings,
    }
    const databases = Object.entries(options.databases ?? {}).map(([alias, entry]) => `${alias} = ${entry}`)
    return [
      '[databases]',
      ...databases,
      `* = host=${serverHost} port=${serverPort}`,
      '',
      '[pgbouncer]',
      ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
      '',
    ].join('\n')
  }

  let child: ChildProcess | undefined
  let stderr = ''
  const killNow = (): void => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  running.add(killNow)
  try {
    handOver(dir)
    writeAuthFile()
    let port = 0
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort()
      writeFileSync(ini, config(port), { mode: 0o600 })
      handOver(ini)
      stderr = ''
      const started = spawn(binary, [...found.args, ini], { stdio: ['ignore', 'ignore', 'pipe'] })
      child = started
      started.stderr?.setEncoding('utf8')
      started.stderr?.on('data', (chunk: string) => {
        if (stderr.length < 20_000) stderr += chunk
      })
      const spawned = new Promise<void>((resolve, reject) => {
        started.once('spawn', resolve)
        started.once('error', reject)
      })
      await spawned
      started.on('error', () => undefined)
      try {
        await waitForPort(port, started, () => stderr, 10_000)
        break
      } catch (error) {
        if (started.exitCode === null && started.signalCode === null) started.kill('SIGKILL')
        // The port was taken between probe and start: try another, three times.
        if (attempt >= 3 || !/Address already in use|bind/.test(stderr)) throw error
      }
    }
    const proc = child as ChildProcess
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve()
      else proc.once('exit', () => resolve())
    })

    const url = (database = 'postgres', user = admin): string => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`
    const adminCommand = async <R extends Record<string, unknown>>(command: string): Promise<R[]> => {
      const client = new pg.Client({ connectionString: url('pgbouncer', admin) })
      client.on('error', () => undefined)
      await client.connect()
      try {
        return (await client.query<R>(command)).rows
      } finally {
        await client.end().catch(() => undefined)
      }
    }
    let stopped: Promise<void> | undefined
    return {
      port,
      dir,
      url,
      admin: adminCommand,
      async allowUsers(more) {
        for (const user of more) if (!USER.test(user)) throw new Error(`PgBouncer user "${user}" must be a plain role name`)
        const before = users.size
        for (const user of more) users.add(user)
        if (users.size === before) return
        writeAuthFile()
        await adminCommand('RELOAD')
      },
      log() {
        return existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''
      },
      stop() {
        stopped ??= (async () => {
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGTERM')
            const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000)
            await exited
            clearTimeout(timer)
          }
          rmSync(dir, { recursive: true, force: true })
          running.delete(killNow)
        })()
        return stopped
      },
    }
  } catch (error) {
    killNow()
    running.delete(killNow)
    throw error
  }
}
