// Builds the admin console (apps/console) into apps/console/dist when it is missing
// or older than its sources: run by `npm ci` / `npm install` (postinstall) and
// `npm start`, so a fresh clone serves /admin with no extra step. Offline; ~3 s.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const app = join(root, 'apps', 'console')
const built = join(app, 'dist', 'index.html')

function newest(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))))
}

if (!existsSync(join(root, 'node_modules', 'vite'))) {
  // Installed without dev dependencies: nothing to build with (the SaaS then says how to build it).
  console.log('admin console: vite is not installed; skipping the build')
  process.exit(0)
}
const sources = Math.max(newest(join(app, 'src')), newest(join(app, 'index.html')), newest(join(app, 'vite.config.ts')))
if (existsSync(built) && statSync(built).mtimeMs >= sources) process.exit(0)
const result = spawnSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: app, stdio: 'inherit' })
if (result.status !== 0) {
  console.error('admin console: the build failed (see above)')
  process.exit(result.status ?? 1)
}
console.log('admin console: built into apps/console/dist')
