// The last dead letters, newest first, in a fixed amount of memory. Pure.

export interface DeadLetterError {
  /** knativeerrorcode: the HTTP status of the last failed delivery. */
  code?: number;
  /** knativeerrordest: where the event could not be delivered. */
  destination?: string;
  /** knativeerrordata: the start of the failed answer's body (base64 on the wire, decoded here). */
  data?: string;
}

export interface DeadLetter {
  receivedAt: string;
  id: string;
  source: string;
  type: string;
  specversion: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  error: DeadLetterError;
  /** Extensions other than Knative's error ones. */
  extensions: Record<string, string>;
  data?: unknown;
  /** Set instead of data when the data was larger than the store keeps. */
  dataTruncated?: { bytes: number; head: string };
}

export class DeadLetterStore {
  private readonly items: DeadLetter[] = [];
  private received = 0;

  constructor(readonly capacity = 100) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a whole number >= 1, got ${capacity}`);
  }

  add(letter: DeadLetter): void {
    this.received++;
    this.items.push(letter);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  /** How many arrived since start, kept or not. */
  get total(): number {
    return this.received;
  }

  /** Newest first. */
  list(): DeadLetter[] {
    return [...this.items].reverse();
  }
}
