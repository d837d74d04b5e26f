// The demo's thread panel: one message's thread beside the conversation, through the SDK's
// thread timeline (client.thread): the root, its replies (history and live), a composer for
// replies and the unread count of the thread, which reading the open panel clears.
import type { HeraldClient, Message, ThreadTimeline } from '@herald/client';
import { byId, displayName, h } from './dom.ts';
import { type Row, threadRows } from './views.ts';

export class ThreadPanel {
  private thread: ThreadTimeline | null = null;
  private readonly box = byId('thread-panel');

  constructor(
    private readonly client: HeraldClient,
    private readonly me: string,
  ) {}

  /** Shows the thread of `rootId` (a reply's id shows its root's thread). */
  open(conversation: string, rootId: string): void {
    this.close();
    const thread = this.client.thread(conversation, rootId);
    this.thread = thread;
    thread.on('change', () => {
      this.render();
      this.markRead();
    });
    thread.on('entry', () => this.render());
    this.box.hidden = false;
    this.render();
    thread.loadOlder().then(
      () => this.markRead(),
      (err) => this.render(`Could not load the thread: ${String(err)}`),
    );
  }

  /** Hides the panel (also when the conversation beside it changes). */
  close(): void {
    this.thread?.close();
    this.thread = null;
    this.box.hidden = true;
    this.box.replaceChildren();
  }

  get conversation(): string | null {
    return this.thread?.conversation ?? null;
  }

  private markRead(): void {
    const t = this.thread;
    if (!t || document.visibilityState === 'hidden' || !t.messages().length) return;
    const last = t.messages().at(-1)?.seq ?? 0;
    if ((t.entry?.last_read_seq ?? 0) >= last && !t.entry?.unread_count) return;
    t.markRead(last).catch(() => {}); // a failed mark-read only leaves the badge until the next reply
  }

  private row(m: Message): Row {
    const mine = m.sender.type === 'user' && m.sender.user_id === this.me;
    return { key: m.id, message: m, seq: m.seq, mine, status: null, error: null };
  }

  private render(problem?: string): void {
    const t = this.thread;
    if (!t) return;
    const unread = t.entry?.unread_count ?? 0;
    const input = h('input', {
      'data-testid': 'thread-input',
      placeholder: 'Reply in thread…',
      maxlength: 4000,
    });
    const form = h(
      'form',
      {
        class: 'composer',
        autocomplete: 'off',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          const body = input.value.trim();
          if (body) t.reply(body);
          input.value = '';
        },
      },
      input,
      h('button', { type: 'submit', 'data-testid': 'thread-send' }, 'Reply'),
    );
    const root = t.root;
    const noSeen = { after: null, users: [] };
    this.box.replaceChildren(
      h(
        'header',
        { class: 'thread-header' },
        h('h2', {}, 'Thread'),
        unread > 0 && h('span', { class: 'badge', 'data-testid': 'thread-unread' }, String(unread)),
        h('button', { type: 'button', class: 'link', onclick: () => this.close() }, 'Close'),
      ),
      h(
        'div',
        { class: 'messages', 'data-testid': 'thread-messages' },
        ...(root ? threadRows([this.row(root)], this.me, noSeen, () => {}) : []),
        h(
          'div',
          { class: 'sys' },
          root?.reply_count
            ? `${root.reply_count} ${root.reply_count === 1 ? 'reply' : 'replies'}`
            : `Reply to ${root?.sender.type === 'user' ? displayName(root.sender.user_id) : 'this message'}`,
        ),
        ...threadRows(
          t.messages().map((m) => this.row(m)),
          this.me,
          noSeen,
          () => {},
        ),
        problem ? h('p', { class: 'empty' }, problem) : null,
      ),
      form,
    );
  }
}
