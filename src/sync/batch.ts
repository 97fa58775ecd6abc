// One writer's batch of prices, held in flat buffers rather than one JS string per row.
// Why: a batch waits while the one before it is written, long enough for its rows to be promoted
// to V8's old generation; with the launcher's small heap of then (--max-semi-space-size=1,
// --max-old-space-size=64) millions of promoted row strings made garbage collection the largest
// part of a 1M-row sync's CPU (3 of 5.6 s). Here a row is 18 bytes of VIN, a few bytes of price
// and a line number in buffers that the collector never scans, and the batch goes to PostgreSQL as
// two array literals (bound parameters, `$1::text[]` and `$2::numeric[]`).
// The rows' VINs are validated (17 characters of [A-HJ-NPR-Z0-9]) and their prices canonical
// (digits and one dot), so neither needs quoting inside an array literal.
import { fnv1a } from '../car.js';

const VIN = 17;
const STRIDE = VIN + 1; // the VIN and a comma
const MAX_PRICE = 13; // 9999999999.99

export class PriceBatch {
  readonly capacity: number;
  /** Rows added, superseded ones included. */
  length = 0;
  /** Rows whose VIN came again later in this batch: the later price wins, these are not written. */
  superseded = 0;
  private readonly vins: Buffer;
  private readonly prices: Buffer;
  private pricesEnd = 0;
  /** Where each row's price starts in `prices`; one more entry marks the end of the last. */
  private readonly priceAt: Int32Array;
  private readonly lines: Float64Array;
  /** 1 for a row superseded by a later row of the same VIN. */
  private readonly dead: Uint8Array;
  /** Open addressing over row indexes + 1, by FNV-1a of the VIN: duplicates and look-ups. */
  private readonly slots: Int32Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.vins = Buffer.allocUnsafe(capacity * STRIDE);
    this.prices = Buffer.allocUnsafe(capacity * (MAX_PRICE + 1));
    this.priceAt = new Int32Array(capacity + 1);
    this.lines = new Float64Array(capacity);
    this.dead = new Uint8Array(capacity);
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.slots = new Int32Array(size);
  }

  /** Empties the batch for reuse (its buffers stay). */
  clear(): void {
    this.length = 0;
    this.superseded = 0;
    this.pricesEnd = 0;
    this.slots.fill(0);
    this.dead.fill(0);
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /**
   * Adds a row. A VIN already in the batch is superseded by this row (the later price wins, as a
   * repeated VIN in an import batch): returns true then.
   */
  add(vin: string, price: string, line: number, hash = fnv1a(vin)): boolean {
    if (vin.length !== VIN || price.length > MAX_PRICE) throw new RangeError(`not a checked row: ${vin} ${price}`);
    if (this.full) throw new RangeError('the batch is full');
    const slot = this.find(vin, hash);
    const earlier = this.slots[slot] - 1;
    if (earlier >= 0) {
      this.dead[earlier] = 1;
      this.superseded++;
    }
    const i = this.length++;
    this.slots[slot] = i + 1;
    this.vins.write(vin, i * STRIDE, VIN, 'latin1');
    this.vins[i * STRIDE + VIN] = 44; // ','
    this.priceAt[i] = this.pricesEnd;
    this.pricesEnd += this.prices.write(price, this.pricesEnd, 'latin1');
    this.prices[this.pricesEnd++] = 44;
    this.priceAt[i + 1] = this.pricesEnd;
    this.lines[i] = line;
    return earlier >= 0;
  }

  /** Whether row i is written (not superseded by a later row of its VIN). */
  live(i: number): boolean {
    return this.dead[i] === 0;
  }

  /** The row of a VIN in this batch, or -1. */
  indexOf(vin: string): number {
    return vin.length === VIN ? this.slots[this.find(vin, fnv1a(vin))] - 1 : -1;
  }

  vin(i: number): string {
    return this.vins.toString('latin1', i * STRIDE, i * STRIDE + VIN);
  }

  price(i: number): string {
    return this.prices.toString('latin1', this.priceAt[i], this.priceAt[i + 1] - 1);
  }

  line(i: number): number {
    return this.lines[i];
  }

  /** `{VIN1,VIN2,...}` for `$1::text[]` (the live rows). */
  vinArray(): string {
    if (this.superseded) return `{${this.liveRows().map((i) => this.vin(i)).join(',')}}`;
    return this.length ? `{${this.vins.toString('latin1', 0, this.length * STRIDE - 1)}}` : '{}';
  }

  /** `{12500,9999.50,...}` for `$2::numeric[]` (the live rows). */
  priceArray(): string {
    if (this.superseded) return `{${this.liveRows().map((i) => this.price(i)).join(',')}}`;
    return this.length ? `{${this.prices.toString('latin1', 0, this.pricesEnd - 1)}}` : '{}';
  }

  private liveRows(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.length; i++) if (this.dead[i] === 0) out.push(i);
    return out;
  }

  /** The slot holding `vin`, or the empty slot where it would go. */
  private find(vin: string, hash: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const at = this.slots[s];
      if (at === 0 || this.sameVin(at - 1, vin)) return s;
    }
  }

  private sameVin(i: number, vin: string): boolean {
    const base = i * STRIDE;
    for (let k = 0; k < VIN; k++) if (this.vins[base + k] !== vin.charCodeAt(k)) return false;
    return true;
  }
}
