/**
 * The admin console in a real browser (Debian's Chromium through
 * playwright-core, headless) against the reference SaaS on PGlite: sign in,
 * find a tenant among 1,000, create a tenant, create a key and revoke it (the
 * key then gets 401), suspend and resume (403, then 200), watch the charts
 * move under load, and the fleet page. With CONSOLE_SCREENSHOTS=1 it writes a
 * screenshot of each page into docs/console/ (the images docs/console.md shows).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { testBackends } from '@tenantry/test-kit'
import { chromium, type Browser, type Page } from 'playwright-core'
import { startSaasUnderTest, type SaasUnderTest } from './support/saas-under-test.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../../docs/console/', import.meta.url)) : undefined
const missing = !existsSync(CHROMIUM)
// In CI (.ci/run installs it and sets TENANTRY_REQUIRE_BROWSER) a missing browser fails rather than skips.
const skip = missing && process.env.TENANTRY_REQUIRE_BROWSER !== '1' && process.env.CI === undefined ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)` : false

describe('the admin console in a browser (Chromium, headless) on PGlite', { skip }, () => {
  let s: SaasUnderTest
  let browser: Browser
  let page: Page
  let base: string
  const pglite = testBackends().find((b) => b.name === 'pglite')!

  before(async () => {
    s = await startSaasUnderTest(pglite, { admission: 'default' })
    base = `http://127.0.0.1:${s.port}`
    // 1,000 tenants to find one among.
    const tenants = s.saas.tenantry.tenants
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => tenants.create({ slug: `bulk-${String(i + j).padStart(4, '0')}`, name: `Bulk tenant ${i + j}` })))
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.setDefaultTimeout(10_000)
    if (SHOTS !== undefined) await mkdir(SHOTS, { recursive: true })
  })
  after(async () => {
    await browser?.close()
    await s?.close()
  })

  const shot = async (name: string): Promise<void> => {
    if (SHOTS !== undefined) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  }
  const tenantApi = (slug: string, key: string) => s.call('/api/projects', { host: slug, key })

  it('asks for the admin token, refuses a wrong one with the API\'s message, and keeps the right one in session storage only', async () => {
    await page.goto(`${base}/admin`)
    await page.getByLabel('Admin token').fill('not-the-token')
    await shot('login')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'Missing or unknown admin token' }).waitFor()
    await page.getByLabel('Admin token').fill(s.adminToken)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByTestId('tenant-table').waitFor()
    assert.equal(await page.evaluate('sessionStorage.getItem("tenantry.adminToken")'), s.adminToken)
    assert.equal(await page.evaluate('localStorage.length'), 0)
    assert.ok(!page.url().includes(s.adminToken), 'the token is never in the URL')
  })

  it('finds a tenant among 1,000 by search, pages and sorts on the server', async () => {
    await page.getByTestId('total').filter({ hasText: '1003 tenants' }).waitFor()
    assert.equal(await page.locator('[data-testid=tenant-table] tbody tr').count(), 25, 'one page, not 1,000 rows')
    await page.getByRole('button', { name: 'Next' }).click()
    await page.getByTestId('page').filter({ hasText: '26–50 of 1003' }).waitFor()
    await page.getByTestId('sort-slug').click()
    await page.getByTestId('page').filter({ hasText: '1–25 of 1003' }).waitFor()
    await page.locator('tbody tr').first().filter({ hasText: 'initech' }).waitFor()
    await page.getByLabel('Search').fill('bulk-0777')
    await page.getByTestId('total').filter({ hasText: '1 tenants' }).waitFor()
    assert.equal(await page.locator('tbody tr').first().getAttribute('data-slug'), 'bulk-0777')
    await page.getByLabel('Search').fill('')
    await page.getByTestId('total').filter({ hasText: '1003 tenants' }).waitFor()
    await shot('tenants')
  })

  it('creates a tenant through the admin API, and shows the API\'s refusal of a taken slug', async () => {
    await page.getByLabel('New tenant slug').fill('browser-made')
    await page.getByLabel('New tenant name').fill('Made in a browser')
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Created browser-made' }).waitFor()
    assert.equal((await s.admin('/tenants/browser-made')).status, 200)
    await page.getByLabel('New tenant slug').fill('browser-made')
    await page.getByLabel('New tenant name').fill('Again')
    await page.getByRole('button', { name: 'Create', exact: true }).click()
    const refusal = await s.admin('/tenants', { method: 'POST', body: { slug: 'browser-made', name: 'Again' } })
    await page.getByRole('alert').filter({ hasText: refusal.body.error.message }).waitFor()
  })

  it('creates a key (shown once) and revokes it: the key then gets 401', async () => {
    await page.goto(`${base}/admin#/tenants/acme`)
    await page.getByRole('heading', { name: /Acme/ }).waitFor()
    await page.getByRole('button', { name: 'Create key' }).click()
    const key = (await page.getByTestId('new-key').textContent())?.trim() ?? ''
    assert.match(key, /^tnt_/)
    assert.equal((await tenantApi('acme', key)).status, 200)
    await page.getByRole('button', { name: 'Done' }).click()
    assert.equal(await page.getByTestId('new-key').count(), 0, 'the key is not shown again')
    // The row of this key: the API lists it by id and prefix, never the secret.
    const listed = (await s.admin('/tenants/acme/api-keys')).body.items as { id: string; prefix: string; revoked_at: string | null }[]
    const made = listed.find((k) => key.startsWith(`tnt_${k.prefix}_`) && k.revoked_at === null)
    assert.ok(made, 'the new key is listed')
    const row = page.locator(`[data-testid=keys] tbody tr[data-key-id="${made.id}"]`)
    await row.getByRole('button', { name: 'Revoke' }).click()
    await page.getByRole('status').filter({ hasText: 'Key revoked' }).waitFor()
    assert.equal((await tenantApi('acme', key)).status, 401)
  })

  it('suspends and resumes a tenant behind a confirmation: its API answers 403, then 200', async () => {
    const key = await s.keyFor('globex')
    await page.goto(`${base}/admin#/tenants/globex`)
    await page.getByTestId('tenant-status').filter({ hasText: 'active' }).waitFor()
    await page.getByRole('button', { name: 'Suspend' }).click()
    await page.getByRole('dialog').waitFor()
    await page.getByTestId('confirm').click()
    await page.getByTestId('tenant-status').filter({ hasText: 'suspended' }).waitFor()
    assert.equal((await tenantApi('globex', key)).status, 403)
    await page.getByRole('button', { name: 'Resume' }).click()
    await page.getByTestId('confirm').click()
    await page.getByTestId('tenant-status').filter({ hasText: 'active' }).waitFor()
    assert.equal((await tenantApi('globex', key)).status, 200)
  })

  it('shows the charts move under a short load, and the tenant\'s migrations and audit trail', async () => {
    const key = await s.keyFor('initech')
    await page.goto(`${base}/admin#/tenants/initech`)
    await page.getByTestId('chart-throughput').waitFor()
    const before = Number(await page.getByTestId('chart-throughput').getAttribute('data-total'))
    for (let i = 0; i < 40; i++) await tenantApi('initech', key)
    // A function, not a string: the console's content security policy forbids eval in the page.
    await page.waitForFunction((least) => Number((globalThis as any).document.querySelector('[data-testid=chart-throughput]')?.getAttribute('data-total')) >= least, before + 40, { timeout: 10_000 })
    await page.waitForFunction(() => Number((globalThis as any).document.querySelector('[data-testid=chart-latency]')?.getAttribute('data-total')) > 0)
    assert.ok((await page.locator('[data-testid=migrations] li').count()) > 0)
    assert.ok((await page.locator('[data-testid=migrations] .state.applied').count()) > 0)
    assert.ok((await page.locator('[data-testid=audit] tr').count()) > 0)
    await shot('tenant')
  })

  it('shows the fleet: migrations per migration, the pool router, the limiter and the busiest tenants', async () => {
    await page.goto(`${base}/admin#/fleet`)
    await page.getByTestId('fleet-migrations').waitFor()
    assert.ok((await page.locator('[data-testid=fleet-migrations] tbody tr').count()) > 0)
    await page.getByTestId('pool').getByText('budget').waitFor()
    await page.getByTestId('limiter').getByText('checks').waitFor()
    await page.getByRole('link', { name: 'initech' }).first().waitFor()
    await shot('fleet')
  })

  it('drops a token the API no longer takes and shows the sign-in again', async () => {
    await page.evaluate('sessionStorage.setItem("tenantry.adminToken", "revoked-token")')
    await page.goto(`${base}/admin#/tenants`)
    await page.getByLabel('Admin token').waitFor()
  })
})
