// The chat page's DOM: mounted once (header, composer), then re-rendered
// from a PageModel on every change. It holds no state of its own beyond the
// message list's scroll position.
import type { ConnectionState } from '@herald/client';
import { avatar, byId, displayName, h } from './dom.ts';
import {
  conversationItem,
  type ListItem,
  memberChip,
  type Presence,
  presenceDot,
  type Row,
  threadRows,
  typingLine,
} from './views.ts';

export interface PageModel {
  me: string;
  connection: ConnectionState;
  /** Something (list or thread) is on screen from before the connection dropped. */
  hasCache: boolean;
  toast: string | null;
  list: ListItem[];
  listLoading: boolean;
  people: { user: string; presence: Presence }[];
  thread: ThreadModel | null;
}

export interface ThreadModel {
  id: string;
  title: string;
  /** Not followed yet (waiting for the conversation list). */
  loading: boolean;
  members: { user: string; presence: Presence }[];
  rows: Row[];
  seenBy: { after: string | null; users: string[] };
  olderHistory: 'none' | 'more' | 'loading';
  typing: string[];
}

export interface PageActions {
  select(id: string): void;
  startDirect(user: string): void;
  loadOlder(id: string): void;
  retry(clientId: string): void;
  /** Opens the thread of a message of the open conversation (thread-panel.ts). */
  openThread(messageId: string): void;
  reconnect(): void;
  switchUser(): void;
  send(body: string): void;
  /** A keystroke in the composer. */
  typing(): void;
  /** A kind's action on a message of the open thread (a reaction, a vote). */
  act(messageId: string, kind: string, action: string, args: Record<string, unknown>): void;
}

const STATUS: Record<ConnectionState, string> = {
  connected: 'Online',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  disconnected: 'Offline',
};

/** How a render places the message list: at the end, where it was, or below older history. */
export type ScrollMode = 'bottom' | 'keep' | 'older';

/** Mounts the chat page for `me`; returns the function that renders a model into it. */
export function mountPage(me: string, a: PageActions): (m: PageModel, scroll: ScrollMode) => void {
  byId('chat').hidden = false;
  byId('me').replaceChildren(
    avatar(me),
    h(
      'span',
      { class: 'me-text' },
      h('strong', { 'data-testid': 'me' }, displayName(me)),
      h('span', { id: 'me-status', class: 'me-status' }),
    ),
    h('button', { type: 'button', class: 'link', onclick: () => a.switchUser() }, 'Switch user'),
  );
  const input = byId<HTMLInputElement>('composer-input');
  byId<HTMLFormElement>('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    input.value = '';
    a.send(body);
  });
  input.addEventListener('input', () => {
    if (input.value.trim()) a.typing();
  });
  return (m, scroll) => renderPage(m, a, scroll);
}

function renderPage(m: PageModel, a: PageActions, scroll: ScrollMode): void {
  renderBanner(m, a);
  byId('me-status').replaceChildren(
    presenceDot(m.connection === 'connected' ? 'online' : 'offline'),
    STATUS[m.connection],
  );
  byId('conversations').replaceChildren(
    ...(m.list.length
      ? m.list.map((item) => conversationItem(item, (id) => a.select(id)))
      : [h('p', { class: 'empty' }, m.listLoading ? 'Loading…' : 'No conversations yet.')]),
  );
  byId('people').replaceChildren(
    ...m.people.map(({ user, presence }) =>
      h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'person',
            'data-testid': `dm-${user}`,
            onclick: () => a.startDirect(user),
          },
          h('span', { class: 'avatar-wrap' }, avatar(user, 'sm'), presenceDot(presence)),
          displayName(user),
        ),
      ),
    ),
  );
  renderThread(m, a, scroll);
  const toast = byId('toast');
  toast.hidden = !m.toast;
  toast.textContent = m.toast ?? '';
}

function renderBanner(m: PageModel, a: PageActions): void {
  const banner = byId('banner');
  banner.hidden = m.connection === 'connected';
  if (banner.hidden) return;
  const label =
    m.connection === 'reconnecting'
      ? 'Reconnecting…'
      : m.connection === 'connecting'
        ? 'Connecting…'
        : 'Disconnected.';
  const parts: HTMLElement[] = [h('strong', { 'data-testid': 'banner-state' }, label)];
  if (m.hasCache) parts.push(h('span', { 'data-testid': 'banner-cache' }, 'Showing cached messages'));
  if (m.connection === 'disconnected') {
    parts.push(h('button', { type: 'button', class: 'link', onclick: () => a.reconnect() }, 'Reconnect'));
  }
  banner.replaceChildren(...parts);
}

function renderThread(m: PageModel, a: PageActions, scroll: ScrollMode): void {
  const t = m.thread;
  const box = byId('messages');
  byId('thread').classList.toggle('empty-thread', !t);
  byId<HTMLInputElement>('composer-input').disabled = !t;
  byId<HTMLButtonElement>('composer-send').disabled = !t;
  byId('typing').textContent = t ? typingLine(t.typing) : '';
  if (!t) {
    byId('thread-header').replaceChildren();
    box.replaceChildren(
      h(
        'div',
        { class: 'placeholder' },
        h('p', {}, 'Pick a conversation on the left.'),
        h(
          'p',
          { class: 'hint' },
          'Open this page in another window as someone else to chat between the two.',
        ),
      ),
    );
    return;
  }
  byId('thread-header').replaceChildren(
    h('h2', { 'data-testid': 'thread-title' }, t.title),
    h(
      'div',
      { class: 'members' },
      ...t.members.map(({ user, presence }) => memberChip(user, presence, user === m.me)),
    ),
  );

  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  const fromBottom = box.scrollHeight - box.scrollTop;
  const top = box.scrollTop;
  const children: HTMLElement[] = [];
  if (t.olderHistory !== 'none') {
    children.push(
      h(
        'button',
        { type: 'button', class: 'load-older link', onclick: () => a.loadOlder(t.id) },
        t.olderHistory === 'loading' ? 'Loading…' : 'Load earlier messages',
      ),
    );
  }
  children.push(
    ...threadRows(
      t.rows,
      m.me,
      t.seenBy,
      (key) => a.retry(key),
      (...act) => a.act(...act),
      (id) => a.openThread(id),
    ),
  );
  if (t.rows.length === 0) {
    children.push(h('p', { class: 'empty' }, t.loading ? 'Loading…' : 'No messages yet. Say hello!'));
  }
  box.replaceChildren(...children);
  if (scroll === 'older') box.scrollTop = box.scrollHeight - fromBottom;
  else if (scroll === 'bottom' || nearBottom) box.scrollTop = box.scrollHeight;
  else box.scrollTop = top;
}
