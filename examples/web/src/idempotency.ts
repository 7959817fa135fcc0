// One idempotency key per intended transfer.
//
// The key is made when a transfer is first submitted and reused for every
// resubmission of the same form contents (a double click, a retry after a
// network error or a lost response), so the server applies the transfer at
// most once: it answers a repeated key with the original outcome. A new key
// is made only for a new intended transfer: after the previous one reached a
// definite outcome (success, or a refusal, which moved no money), or when the
// inputs change.

export interface TransferFields {
  fromAccountId: string;
  toAccountId: string;
  amount: string;
  /** An exchange's rate: part of what makes two submissions the same one. */
  rate?: string;
}

export class IdempotencyKeys {
  #current: { fingerprint: string; key: string } | null = null;

  constructor(private readonly newKey: () => string = () => crypto.randomUUID()) {}

  /** The key to send for these fields: the pending one when the fields are unchanged. */
  keyFor(fields: TransferFields): string {
    const fingerprint = JSON.stringify([fields.fromAccountId, fields.toAccountId, fields.amount, fields.rate ?? null]);
    if (this.#current?.fingerprint !== fingerprint) {
      this.#current = { fingerprint, key: this.newKey() };
    }
    return this.#current.key;
  }

  /** The pending key, if a submission has not reached a definite outcome. */
  get pending(): string | null {
    return this.#current?.key ?? null;
  }

  /** The transfer reached a definite outcome: the next submission is a new transfer. */
  settle(): void {
    this.#current = null;
  }

  /** The form changed: whatever is submitted next is a new intended transfer. */
  inputsChanged(): void {
    this.#current = null;
  }
}
