import { open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { TenantryError } from '@tenantry/core'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes `<dataDir>/lock` for this process: two processes on one PGlite data
 * folder would corrupt it, so a second `npm start` on the same folder fails at
 * start with a clear message instead. A lock left by a dead process is taken over.
 *
 * @example
 * const release = await lockDataDir('./.tenantry')
 * // ... on shutdown
 * await release()
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return async () => {
        await rm(file, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim())
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new TenantryError('CONFLICT', `The data folder ${dataDir} is in use by process ${pid}; stop that process first, or give this one another data folder (the reference SaaS: TENANTRY_DATA_DIR)`)
      }
      await rm(file, { force: true })
    }
  }
  throw new TenantryError('CONFLICT', `Could not lock the data folder ${dataDir}`)
}
