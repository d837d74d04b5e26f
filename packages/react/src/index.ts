// @herald/react — React bindings for @herald/client: one provider, hooks over the client's stores and events.
export {
  type ConversationState,
  type InboxState,
  type NoticesState,
  type SendState,
  type TypingState,
  useConnectionState,
  useConversation,
  useHeraldEvent,
  useInbox,
  useNotices,
  usePresence,
  useSend,
  useSession,
  useTyping,
  useUnread,
} from './hooks.ts';
export { HeraldProvider, type HeraldProviderProps, useHerald } from './provider.tsx';
