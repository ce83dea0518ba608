/**
 * The global connection budget: one permit per server connection, held from the
 * moment a connection starts opening until its close has completed, so the
 * count the router keeps is never below what the servers see. Waiting for a
 * permit is the router's business (its FIFO queue); this only counts.
 */
export class ConnectionBudget {
  readonly limit: number
  #used = 0
  #peak = 0

  constructor(limit: number) {
    this.limit = limit
  }

  /** Permits held now: connections opening, open or closing. */
  get used(): number {
    return this.#used
  }

  /** The most permits ever held at once. */
  get peak(): number {
    return this.#peak
  }

  /** Takes a permit if one is free. */
  tryTake(): boolean {
    if (this.#used >= this.limit) return false
    this.#used += 1
    if (this.#used > this.#peak) this.#peak = this.#used
    return true
  }

  /** Gives a permit back (its connection has closed, or never opened). */
  give(): void {
    if (this.#used <= 0) throw new Error('ConnectionBudget: a permit was given back twice')
    this.#used -= 1
  }
}
