/**
 * The admin console in a real browser (Debian's Chromium through
 * playwright-core, headless) against the reference SaaS on PGlite: sign in,
 * find a tenant among 1,000, create a tenant, create a key and revoke it (the
 * key then gets 401), suspend and resume (403, then 200), change the plan (the
 * API's refusal shown as it is), watch the charts move under load, the fleet
 * page, and the client routes (a deep link reloads, an old hash link moves). With CONSOLE_SCREENSHOTS=1 it writes a
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
const redisUrl = process.env.TENANTRY_REDIS_URL || undefined
// In CI (.ci/run installs it and sets TENANTRY_REQUIRE_BROWSER) a missing browser fails rather than skips.
const skip = missing && process.env.TENANTRY_REQUIRE_BROWSER !== '1' && process.env.CI === undefined ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)` : false

describe('the admin console in a browser (Chromium, headless) on PGlite', { skip }, () => {
  let s: SaasUnderTest
  let browser: Browser
  let page: Page
  let base: string
  const pglite = testBackends().find((b) => b.name === 'pglite')!

  before(async () => {
    // The browser first: in CI a missing one fails here, before the SaaS takes its 10 s to start.
    if (missing) throw new Error(`no Chromium at ${CHROMIUM}, and CI requires this test: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    // With Redis the app runs its report queue, and the tenant page shows the tenant's jobs.
    s = await startSaasUnderTest(pglite, { admission: 'default', ...(redisUrl === undefined ? {} : { redisUrl }) })
    base = `http://127.0.0.1:${s.port}`
    // 1,000 shared tenants to find one among, written into the catalog in one
    // statement (the lifecycle's create takes 11 s for as many on PGlite; the
    // list and its search are what is tested here, creation has its own test below).
    await s.saas.tenantry.target.pool.query(
      `insert into tenantry.tenants (id, slug, name, status, isolation)
       select gen_random_uuid(), 'bulk-' || lpad(i::text, 4, '0'), 'Bulk tenant ' || i, 'active', 'shared' from generate_series(0, 999) i`,
    )
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
    // Sorted by the placement, descending: the schema and database tenants have one.
    await page.getByTestId('sort-placement').click()
    await page.getByTestId('sort-placement').click()
    await page.locator('tbody tr').first().filter({ hasText: /globex|initech/ }).waitFor()
    await page.getByTestId('sort-slug').click()
    await page.locator('tbody tr').first().filter({ hasText: 'acme' }).waitFor()
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
    // From the list by its link: a client route, /admin/tenants/acme.
    await page.goto(`${base}/admin`)
    await page.getByLabel('Search').fill('acme')
    await page.getByTestId('total').filter({ hasText: /^1 tenants$/ }).waitFor()
    await page.getByRole('link', { name: 'acme', exact: true }).click()
    await page.getByRole('heading', { name: /Acme/ }).waitFor()
    assert.equal(new URL(page.url()).pathname, '/admin/tenants/acme')
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
    // A deep link: the SaaS answers /admin/tenants/globex with the console.
    await page.goto(`${base}/admin/tenants/globex`)
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

  it('changes the plan through the admin API, and shows its refusal of an unknown plan as the API words it', async () => {
    await page.goto(`${base}/admin/tenants/globex`)
    await page.getByLabel('Plan').fill('platinum')
    await page.getByRole('button', { name: 'Save' }).click()
    const refusal = await s.admin('/tenants/globex', { method: 'PATCH', body: { plan: 'platinum' } })
    assert.equal(refusal.status, 400)
    await page.getByRole('alert').filter({ hasText: refusal.body.error.message }).waitFor()
    await page.getByLabel('Plan').fill('pro')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    assert.equal((await s.admin('/tenants/globex')).body.plan, 'pro')
  })

  it('adds and removes a domain (a taken one refused as the API words it), then deletes the tenant behind a confirmation', async () => {
    assert.equal((await s.admin('/tenants/acme/domains', { method: 'POST', body: { domain: 'taken.example.com' } })).status, 201)
    await page.goto(`${base}/admin/tenants/browser-made`)
    await page.getByRole('heading', { name: /Made in a browser/ }).waitFor()
    await page.getByLabel('Domain').fill('taken.example.com')
    await page.getByRole('button', { name: 'Add' }).click()
    const taken = await s.admin('/tenants/browser-made/domains', { method: 'POST', body: { domain: 'taken.example.com' } })
    assert.equal(taken.status, 409)
    await page.getByRole('alert').filter({ hasText: taken.body.error.message }).waitFor()
    await page.getByLabel('Domain').fill('app.browser-made.example')
    await page.getByRole('button', { name: 'Add' }).click()
    await page.getByRole('status').filter({ hasText: 'Domain added' }).waitFor()
    assert.deepEqual((await s.admin('/tenants/browser-made')).body.domains, ['app.browser-made.example'])
    await page.getByRole('button', { name: 'remove' }).click()
    await page.getByRole('status').filter({ hasText: 'Domain removed' }).waitFor()
    assert.deepEqual((await s.admin('/tenants/browser-made')).body.domains, [])
    await page.getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('dialog').filter({ hasText: 'Delete browser-made?' }).waitFor()
    await page.getByTestId('confirm').click()
    await page.getByTestId('tenant-table').waitFor()
    assert.equal(new URL(page.url()).pathname, '/admin/tenants')
    assert.equal((await s.admin('/tenants/browser-made')).status, 404)
  })

  it('shows the charts move under a short load, and the tenant\'s migrations and audit trail', async () => {
    const key = await s.keyFor('initech')
    await page.goto(`${base}/admin/tenants/initech`)
    await page.getByTestId('chart-throughput').waitFor()
    const before = Number(await page.getByTestId('chart-throughput').getAttribute('data-total'))
    for (let i = 0; i < 40; i++) await tenantApi('initech', key)
    // A function, not a string: the console's content security policy forbids eval in the page.
    await page.waitForFunction((least) => Number((globalThis as any).document.querySelector('[data-testid=chart-throughput]')?.getAttribute('data-total')) >= least, before + 40, { timeout: 10_000 })
    await page.waitForFunction(() => Number((globalThis as any).document.querySelector('[data-testid=chart-latency]')?.getAttribute('data-total')) > 0)
    assert.ok((await page.locator('[data-testid=migrations] li').count()) > 0)
    assert.ok((await page.locator('[data-testid=migrations] .state.applied').count()) > 0)
    assert.ok((await page.locator('[data-testid=audit] tr').count()) > 0)
    if (redisUrl === undefined) {
      await page.getByTestId('jobs-off').waitFor()
    } else {
      // A report asked for by the tenant shows in its jobs, per queue.
      assert.equal((await s.call('/api/reports', { method: 'POST', host: 'initech', key })).status, 202)
      await page.locator('[data-testid=jobs] tr[data-queue=reports]').waitFor()
      assert.equal(await page.locator('[data-testid=jobs] tr[data-queue=reports] td').count(), 4)
    }
    await shot('tenant')
    // The load shows in the list too: sorted by req/s (the first click sorts it busiest first), initech leads.
    await page.getByRole('link', { name: 'Tenants', exact: true }).click()
    await page.getByTestId('sort-rps').click()
    await page.locator('tbody tr').first().filter({ hasText: 'initech' }).waitFor()
    assert.ok(Number(await page.locator('tbody tr').first().locator('td.num').first().textContent()) > 0)
    await shot('tenants')
  })

  it('shows the fleet: migrations per migration, the pool router, the limiter and the busiest tenants', async () => {
    await page.getByRole('link', { name: 'Fleet' }).click()
    await page.getByTestId('fleet-migrations').waitFor()
    assert.ok((await page.locator('[data-testid=fleet-migrations] tbody tr').count()) > 0)
    await page.getByTestId('pool').getByText('budget').waitFor()
    await page.getByTestId('limiter').getByText('checks').waitFor()
    await page.getByRole('link', { name: 'initech' }).first().waitFor()
    await shot('fleet')
  })

  it('moves a link of the earlier hash form to its path', async () => {
    await page.goto(`${base}/admin#/tenants/initech`)
    await page.getByRole('heading', { name: /Initech/ }).waitFor()
    assert.equal(new URL(page.url()).pathname, '/admin/tenants/initech')
    assert.equal(new URL(page.url()).hash, '')
  })

  it('drops a token the API no longer takes and shows the sign-in again', async () => {
    await page.evaluate('sessionStorage.setItem("tenantry.adminToken", "revoked-token")')
    await page.goto(`${base}/admin/tenants`)
    await page.getByLabel('Admin token').waitFor()
    assert.equal(await page.evaluate('sessionStorage.getItem("tenantry.adminToken")'), null)
  })
})
