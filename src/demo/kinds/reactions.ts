// Reactions in the demo: a chip per emoji (count; outlined when it is yours; click toggles)
// and a few emoji to add.
import type { Message } from '@herald/client';
import { h } from '../dom.ts';
import type { Act, KindView } from './view.ts';

const PICKS = ['👍', '❤️', '😂', '🎉'];

export const reactionsView: KindView = {
  kind: 'reactions',
  render(m: Message, _me: string, act: Act) {
    const have = m.reactions ?? [];
    const chips = have.map((r) =>
      h(
        'button',
        {
          type: 'button',
          class: `reaction${r.me ? ' me' : ''}`,
          'data-testid': 'reaction',
          'data-emoji': r.emoji,
          onclick: () => act('react', { emoji: r.emoji, remove: r.me === true }),
        },
        `${r.emoji} ${r.count}`,
      ),
    );
    const picks = PICKS.filter((e) => !have.some((r) => r.emoji === e)).map((e) =>
      h('button', { type: 'button', class: 'reaction add', onclick: () => act('react', { emoji: e }) }, e),
    );
    return h('div', { class: 'reactions' }, ...chips, ...picks);
  },
};
