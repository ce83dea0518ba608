/**
 * A throwaway PostgreSQL cluster for tests that need a second server (one to
 * stop mid-test, say): initdb into a fresh temp folder, start on a free
 * loopback port with durability off, and on stop() kill it and delete the
 * folder. Needs PostgreSQL's binaries (/usr/lib/postgresql/<version>/bin) and
 * to run as root (the cluster then runs as the `postgres` user: initdb refuses
 * root) or as `postgres`. Starting takes about a second.
 *
 * @example
 * const server = await startThrowawayServer()
 * after(() => server.stop())
 * const client = new pg.Client(server.url)
 */
import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { freePort } from './ports.ts'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface ThrowawayServer {
  /** Superuser URL of the `postgres` database, trust auth. */
  readonly url: string
  readonly port: number
  /** Stops the server at once (`-m immediate`) and removes its folder. Safe to call twice. */
  stop(): Promise<void>
}

interface Runner {
  readonly bin: string
  /** Command and arguments that run `tool` as the cluster's owner. */
  command(tool: string, args: readonly string[]): [string, string[]]
  /** uid/gid the folder must belong to, when it must be handed over. */
  readonly owner: { uid: number; gid: number } | undefined
}

function findBinaries(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

function runner(): Runner | string {
  const bin = findBinaries()
  if (bin === undefined) return 'no PostgreSQL binaries under /usr/lib/postgresql/<version>/bin'
  if (userInfo().username === 'postgres') {
    return { bin, owner: undefined, command: (tool, args) => [join(bin, tool), [...args]] }
  }
  if (process.getuid?.() !== 0) return 'a throwaway server needs to run as root or as the postgres user'
  let uid: number
  let gid: number
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  } catch {
    return 'there is no postgres user to run the throwaway server as'
  }
  return { bin, owner: { uid, gid }, command: (tool, args) => ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] }
}

/** Why a throwaway server cannot start here, or undefined when it can. */
export function throwawayServerUnsupported(): string | undefined {
  const found = runner()
  return typeof found === 'string' ? found : undefined
}


/** Every server still running, stopped synchronously if the test process exits without stop(). */
const running = new Set<() => void>()
process.once('exit', () => {
  for (const stopNow of running) stopNow()
})

/** Starts a throwaway cluster; throws (with the reason) when this machine cannot run one. */
export async function startThrowawayServer(): Promise<ThrowawayServer> {
  const found = runner()
  if (typeof found === 'string') throw new Error(`Cannot start a throwaway PostgreSQL server: ${found}`)
  const root = mkdtempSync(join(tmpdir(), 'tenantry-pg-'))
  if (found.owner) chownSync(root, found.owner.uid, found.owner.gid)
  const data = join(root, 'data')
  const exec = async (tool: string, args: readonly string[]): Promise<void> => {
    const [command, argv] = found.command(tool, args)
    await run(command, argv, { timeout: 60_000 })
  }
  const stopSync = (): void => {
    const [command, argv] = found.command('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
    try {
      execFileSync(command, argv, { stdio: 'ignore', timeout: 30_000 })
    } catch {
      // not running (never started, or already stopped)
    }
    rmSync(root, { recursive: true, force: true })
  }
  running.add(stopSync)
  try {
    await exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'])
    let port = 0
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort()
      const settings = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`
      try {
        await exec('pg_ctl', ['-D', data, '-l', join(root, 'server.log'), '-o', settings, '-w', 'start'])
        break
      } catch (error) {
        if (attempt >= 3) throw error // the port was taken between probe and start, three times running
      }
    }
    let stopped: Promise<void> | undefined
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      stop() {
        stopped ??= (async () => {
          try {
            await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
          } catch {
            // already stopped
          }
          rmSync(root, { recursive: true, force: true })
          running.delete(stopSync)
        })()
        return stopped
      },
    }
  } catch (error) {
    stopSync()
    running.delete(stopSync)
    throw error
  }
}
