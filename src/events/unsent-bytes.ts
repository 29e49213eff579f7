/**
 * One buffer written to subscribers: counted in its UnsentBytes while at least one of their sockets still holds it
 * (Node calls a write's callback once the kernel has the bytes, or once the socket is destroyed).
 */
export class HeldBuffer {
  private holders = 0;

  constructor(
    private readonly owner: UnsentBytes,
    readonly bytes: number,
  ) {}

  /** Called before each write of the buffer; its write callback is `release`. */
  take(): void {
    if (this.holders++ === 0) this.owner.total += this.bytes;
  }

  readonly release = (): void => {
    if (--this.holders === 0) this.owner.total -= this.bytes;
  };
}

/**
 * The bytes that subscribers' sockets have been given and not yet sent, each buffer counted once however many
 * subscribers wait for it: what the stream side holds in memory.
 */
export class UnsentBytes {
  total = 0;

  hold(buffer: Buffer): HeldBuffer {
    return new HeldBuffer(this, buffer.length);
  }
}
