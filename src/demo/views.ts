// Rendering for the demo page: pure functions from a small view model to
// elements. The controller (chat.ts) owns the state and re-renders on change.
// data-testid attributes are the page's stable hooks for the browser test.
import type { Message } from '@herald/client';
import { avatar, clock, displayName, h, nameList } from './dom.ts';
import { type KindAct, kindParts } from './kinds/index.ts';

export type Presence = 'online' | 'away' | 'offline';

export interface ListItem {
  id: string;
  title: string;
  kind: string;
  preview: string;
  time: string;
  unread: number;
  typing: string[];
  active: boolean;
  /** The other user of a direct conversation. */
  other: string | null;
  presence: Presence | null;
}

export function conversationItem(item: ListItem, onSelect: (id: string) => void): HTMLElement {
  const icon = item.other
    ? h('span', { class: 'avatar-wrap' }, avatar(item.other), presenceDot(item.presence ?? 'offline'))
    : h('span', { class: 'avatar avatar-md avatar-group', 'aria-hidden': 'true' }, '#');
  const preview = item.typing.length
    ? h('span', { class: 'conv-preview typing-text' }, typingLine(item.typing))
    : h('span', { class: 'conv-preview' }, item.preview);
  return h(
    'button',
    {
      type: 'button',
      class: `conv${item.active ? ' active' : ''}${item.unread ? ' has-unread' : ''}`,
      'data-testid': 'conversation',
      'data-conversation-id': item.id,
      'data-title': item.title,
      'aria-current': item.active ? 'true' : null,
      onclick: () => onSelect(item.id),
    },
    icon,
    h(
      'span',
      { class: 'conv-main' },
      h(
        'span',
        { class: 'conv-top' },
        h('span', { class: 'conv-title' }, item.title),
        h('span', { class: 'conv-time' }, item.time),
      ),
      h(
        'span',
        { class: 'conv-bottom' },
        preview,
        item.unread > 0 &&
          h(
            'span',
            { class: 'badge', 'data-testid': 'unread-badge', 'aria-label': `${item.unread} unread` },
            item.unread > 99 ? '99+' : String(item.unread),
          ),
      ),
    ),
  );
}

export function presenceDot(p: Presence): HTMLElement {
  return h('i', { class: `dot dot-${p}`, 'data-testid': 'presence-dot', 'data-presence': p, title: p });
}

export function memberChip(user: string, p: Presence, me: boolean): HTMLElement {
  return h(
    'span',
    { class: 'member', 'data-testid': 'member', 'data-user': user, 'data-presence': p },
    presenceDot(p),
    me ? `${displayName(user)} (you)` : displayName(user),
  );
}

/** One line of the thread: a system event, a message bubble, or an unconfirmed send. */
export interface Row {
  key: string;
  message: Pick<Message, 'body' | 'created_at' | 'sender' | 'kind' | 'data' | 'edited_at' | 'deleted_at'> &
    Partial<Message>;
  seq: number | null;
  mine: boolean;
  /** sending | sent | failed, for our own sends not yet seen as events. */
  status: 'sending' | 'sent' | 'failed' | null;
  error: string | null;
}

export function threadRows(
  rows: Row[],
  me: string,
  seenBy: { after: string | null; users: string[] },
  onRetry: (key: string) => void,
  onAct: (messageId: string, ...act: Parameters<KindAct>) => void = () => {},
  /** Given: each stored message offers its thread (the main timeline; not inside a thread). */
  onThread?: (messageId: string) => void,
): HTMLElement[] {
  const out: HTMLElement[] = [];
  let prevSender: string | null = null;
  for (const row of rows) {
    const m = row.message;
    if (m.sender.type === 'system') {
      out.push(
        h('div', { class: 'sys', 'data-testid': 'system-message' }, describeSystem(m.data, m.body, me)),
      );
      prevSender = null;
      continue;
    }
    const sender = m.sender.user_id;
    const first = sender !== prevSender;
    prevSender = sender;
    const meta: string[] = [clock(m.created_at)];
    if (m.edited_at && !m.deleted_at) meta.push('edited');
    if (row.status === 'sending') meta.push('Sending…');
    const body = m.deleted_at
      ? h('div', { class: 'body deleted' }, 'Message deleted')
      : h('div', { class: 'body' }, m.body);
    out.push(
      h(
        'div',
        {
          class: `row ${row.mine ? 'mine' : 'theirs'}${first ? ' first' : ''}${row.status ? ` ${row.status}` : ''}`,
          'data-testid': row.status ? 'pending-message' : 'message',
          'data-seq': row.seq ?? null,
          'data-sender': sender,
        },
        !row.mine && (first ? avatar(sender, 'sm') : h('span', { class: 'avatar-gap' })),
        h(
          'div',
          { class: 'bubble' },
          !row.mine && first && h('div', { class: 'author' }, displayName(sender)),
          body,
          // A confirmed message shows its kinds (reactions, a poll) and offers their actions.
          ...(row.status === null && !m.deleted_at && m.id
            ? kindParts(m as Message, me, (...act) => onAct(row.key, ...act))
            : []),
          h('div', { class: 'meta' }, meta.filter(Boolean).join(' · ')),
          onThread && m.id && threadLink(m.id, m.reply_count ?? 0, onThread),
        ),
      ),
    );
    if (row.status === 'failed') {
      out.push(
        h(
          'div',
          { class: 'send-failed', 'data-testid': 'send-failed' },
          `Not sent${row.error ? ` (${row.error})` : ''}. `,
          h('button', { type: 'button', class: 'link', onclick: () => onRetry(row.key) }, 'Retry'),
        ),
      );
    }
    if (row.key === seenBy.after && seenBy.users.length) {
      out.push(h('div', { class: 'receipt', 'data-testid': 'receipt' }, `Seen by ${nameList(seenBy.users)}`));
    }
  }
  return out;
}

function threadLink(id: string, replies: number, onThread: (id: string) => void): HTMLElement {
  return h(
    'button',
    { type: 'button', class: 'link thread-link', 'data-testid': 'thread-link', onclick: () => onThread(id) },
    replies ? `${replies} ${replies === 1 ? 'reply' : 'replies'}` : 'Reply in thread',
  );
}

function describeSystem(data: Message['data'], body: string, me: string): string {
  const who = (u: unknown) => (u === me ? 'You' : typeof u === 'string' ? displayName(u) : 'Someone');
  const users = (v: unknown) => nameList(Array.isArray(v) ? v.filter((u) => typeof u === 'string') : []);
  switch (data?.event) {
    case 'created':
      return data.title
        ? `${who(data.by)} created “${String(data.title)}”`
        : `${who(data.by)} started the conversation`;
    case 'joined':
      return `${users(data.user_ids)} joined`;
    case 'left':
      return `${users(data.user_ids)} left`;
    case 'renamed':
      return `${who(data.by)} renamed it “${String(data.title)}”`;
    default:
      return body || 'Conversation updated';
  }
}

export function typingLine(users: string[]): string {
  if (users.length === 0) return '';
  return `${nameList(users)} ${users.length === 1 ? 'is' : 'are'} typing…`;
}
