import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// Served by the reference SaaS at /admin (apps/saas/src/http/console-static.ts).
export default defineConfig({
  base: '/admin/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1000 },
  logLevel: 'warn',
})
