// @herald/client — the browser and Node SDK. Imports only src/protocol.
export type { CloseAction, CloseCode } from '../protocol/close-codes.ts';
export { CLOSE, closeAction } from '../protocol/close-codes.ts';
export type { ErrorCode } from '../protocol/errors.ts';
export type { ClientFrame, PresenceEntry, PresenceStatus, ServerFrame } from '../protocol/frames.ts';
export {
  applyKindEvent,
  isKindEvent,
  type KindAction,
  type KindEvent,
  type KindSummaries,
  keepSummaries,
} from '../protocol/kinds/index.ts';
export type {
  Attachment,
  ConversationEvent,
  InboxEntry,
  Message,
  Notice,
  Receipt,
  ThreadEntry,
  ThreadSummary,
} from '../protocol/model.ts';
export { type BackoffOptions, fullJitterDelay } from './backoff.ts';
export {
  type ConnectionState,
  HeraldClient,
  type HeraldClientEvents,
  type HeraldClientOptions,
  type StateChange,
  type TokenRequest,
  type WelcomeInfo,
} from './client.ts';
export { defaultStorage, storageNameFor } from './default-storage.ts';
export { CLIENT_ERRORS, type ClientErrorCode, HeraldClientError } from './errors.ts';
export {
  type EventsPage,
  type FetchLike,
  HeraldHttp,
  type InboxPage,
  type MessagesPage,
  type NoticeFlags,
  type NoticesPage,
  type ThreadPage,
} from './http.ts';
export { InboxStore, isTombstone } from './inbox-store.ts';
export { type ActionResult, type KindActions, kindActions } from './kind-actions.ts';
export { NoticeStore } from './notice-store.ts';
export { OutgoingMessage, type OutgoingStatus, type SendOptions, type SentMessage } from './outbox.ts';
export type { WebSocketConstructor, WebSocketLike } from './socket.ts';
export {
  type HeraldStorage,
  memoryStorage,
  type StorageOp,
  type StoredConversation,
  type StoredIdentity,
  type StoredRead,
  type StoredSend,
  type StoredState,
} from './storage.ts';
export { type IndexedDbStorageOptions, indexedDbStorage } from './storage-indexeddb.ts';
export { type AppliedEvent, Subscription, type SubscriptionStatus } from './subscription.ts';
export { type ThreadEvents, type ThreadHost, ThreadTimeline } from './thread.ts';
export { realTimers, type Timers } from './timers.ts';
