/** A transient failure the Broker should retry (409 on a write race, 5xx otherwise). */
export class RetryError extends Error {
  constructor(
    message: string,
    readonly status: 409 | 500 | 503 = 500,
  ) {
    super(message);
    this.name = 'RetryError';
  }
}
