// Polls in the demo: the question, a bar per option (click to vote; yours is marked), and
// for the author a Close button. The composer writes one as "/poll Lunch? | Pizza | Sushi".
import type { Message } from '@herald/client';
import { h } from '../dom.ts';
import type { Act, KindView } from './view.ts';

export const pollView: KindView = {
  kind: 'poll',
  render(m: Message, me: string, act: Act) {
    const def = m.data?.poll as { question: string; options: string[] } | undefined;
    if (!def) return null;
    const state = m.poll ?? {
      question: def.question,
      options: def.options.map((text) => ({ text, votes: 0 })),
      voters: 0,
      closed: false,
    };
    const total = Math.max(state.voters, 1);
    const mine = m.sender.type === 'user' && m.sender.user_id === me;
    return h(
      'div',
      { class: `poll${state.closed ? ' closed' : ''}`, 'data-testid': 'poll' },
      h('div', { class: 'poll-question' }, state.question),
      ...state.options.map((o, i) =>
        h(
          'button',
          {
            type: 'button',
            class: `poll-option${state.mine === i ? ' me' : ''}`,
            'data-testid': 'poll-option',
            disabled: state.closed,
            style: `--share: ${Math.round((o.votes / total) * 100)}%`,
            onclick: () => act('vote', { option: i }),
          },
          `${o.text} · ${o.votes}`,
        ),
      ),
      h(
        'div',
        { class: 'poll-meta' },
        `${state.voters} voted${state.closed ? ' · closed' : ''}`,
        mine &&
          !state.closed &&
          h('button', { type: 'button', class: 'link', onclick: () => act('close', {}) }, ' Close poll'),
      ),
    );
  },
  compose(text: string) {
    const m = /^\/poll\s+(.+)$/s.exec(text.trim());
    if (!m) return null;
    const [question, ...options] = m[1].split('|').map((s) => s.trim());
    if (!question || options.length < 2) return null;
    return { body: '', fields: { poll: { question, options } } };
  },
};
