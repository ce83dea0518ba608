#!/usr/bin/env node
// Runs the built CLI (npm run build). In this repository without a build: npm run tenantry -- <args>
await import('../dist/main.js')
