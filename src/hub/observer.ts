/**
 * What the hub reports as it works, for metrics. The hub calls these on its
 * hot paths, so implementations must be cheap (counter increments); gauges
 * such as open streams are read from the hub when scraped instead.
 */
export interface HubObserver {
  /** A command arrived from a client. */
  commandReceived(): void;
  /** A message was accepted for storage and fan-out. */
  messageAccepted(): void;
  /** A turn's messages were stored: how many, and how long the store took. */
  committed(messages: number, storeMs: number): void;
  /** One message was fanned out to `receivers` local members. */
  fannedOut(receivers: number): void;
  /** One of this node's senders' messages was fanned out here, `latencyMs` after it was accepted. */
  acknowledged(latencyMs: number): void;
  /** A client was disconnected for not reading fast enough. */
  droppedTooSlow(): void;
  /** A command was refused by the rate limit. */
  rateLimited(): void;
}

export const noObserver: HubObserver = {
  commandReceived() {},
  messageAccepted() {},
  committed() {},
  fannedOut() {},
  acknowledged() {},
  droppedTooSlow() {},
  rateLimited() {},
};
