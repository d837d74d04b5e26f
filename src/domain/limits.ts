/** Caps applied by every compose handler. Configurable; defaults follow DESIGN. */
export interface Limits {
  /** Max body size in bytes (UTF-8). */
  maxBodyBytes: number;
  maxMentions: number;
  maxAttachments: number;
  /** Max members added in one call. */
  maxMembersPerCall: number;
  /** Channels above this many members keep O(1) writes per message. */
  largeChannelThreshold: number;
  /** Max events replayed on subscribe before the client must page over HTTP. */
  replayLimit: number;
  /**
   * Conversations with at most this many recipients get per-recipient delivery receipts
   * (`receipt` frames on acks, user lists in GET …/receipts and the delivery log); larger
   * ones get counts only (docs/delivery.md).
   */
  receiptDetailMax: number;
}

export const defaultLimits: Limits = {
  maxBodyBytes: 16 * 1024,
  maxMentions: 50,
  maxAttachments: 10,
  maxMembersPerCall: 1000,
  largeChannelThreshold: 1000,
  replayLimit: 500,
  receiptDetailMax: 100,
};
