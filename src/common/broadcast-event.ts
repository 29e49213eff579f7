/**
 * An accepted event on its way to the subscribers: its frame, serialized once, and what filters look at.
 * Shared by the events module, which makes and delivers it, and the backplane, which carries it between instances.
 */
export interface BroadcastEvent {
  /** `data: <json>\n\n`, exactly as every subscriber receives it. */
  readonly frame: Buffer;
  readonly eventName?: string;
  readonly sessionId?: string;
}
